"""trichometry: quantitative trichoscopy.

One dermatoscope image of the scalp in, objective numbers out: erythema
(CIELAB a*, erythema index), capillary loops, hair shafts and follicle
miniaturization.

>>> import trichometry
>>> image, truth = trichometry.synth(width=320, height=240, um_per_px=3.5, seed=1)
>>> result = trichometry.analyze(image, um_per_px=3.5)
>>> abs(result.erythema_a_star_mean - truth["skin_a_star_mean"]) < 0.5
True
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core
from ._core import (
    CalibrationError,
    ColourRequiredError,
    DecodeError,
    ImageLimitsError,
    RegistrationError,
    TrichometryError,
    UnsupportedImageError,
)
from ._compare import Comparison
from ._result import Analysis

__version__: str = _core.__version__

__all__ = [
    "Analysis",
    "Analyzer",
    "Comparison",
    "CalibrationError",
    "ColourRequiredError",
    "DecodeError",
    "ImageLimitsError",
    "RegistrationError",
    "TrichometryError",
    "UnsupportedImageError",
    "analyze",
    "compare",
    "load",
    "synth",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]
ImageLike = Union[PathLike, np.ndarray]


def load(path: PathLike) -> np.ndarray:
    """Decode an image file (JPEG, PNG 8/16-bit, TIFF).

    EXIF orientation is applied and alpha dropped.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` for colour, ``(H, W)`` for greyscale; ``uint8`` or
        ``uint16`` as in the file.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    DecodeError, UnsupportedImageError, ImageLimitsError
        Corrupt/truncated/empty data, an unsupported format, or more pixels
        than the decoder limits allow (all subclass ``ValueError``).
    """
    return _core.load(_fspath(path, "path"))


def analyze(
    image: ImageLike,
    *,
    um_per_px: Optional[float] = None,
    chart: Optional[ImageLike] = None,
    chart_corners: Optional[Sequence[Any]] = None,
    reference: Optional[ImageLike] = None,
    reference_rect: Optional[Sequence[int]] = None,
    reference_lightness: float = 50.0,
    colour_constancy: Optional[str] = None,
    params: Optional[Union[Mapping[str, Any], str]] = None,
) -> Analysis:
    """Analyse one trichoscopy image.

    The work runs in Rust with the GIL released.

    Parameters
    ----------
    image : str, os.PathLike or numpy.ndarray
        A file, or a ``uint8``/``uint16`` sRGB array of shape ``(H, W, 3)`` or
        ``(H, W)``. A C-contiguous array is read in place (do not modify it
        while the call runs); others are copied.
    um_per_px : float, optional
        Micrometres per pixel. Without it no µm, mm² or cm² figure is
        reported and the hair and vessel stages are skipped.
    chart : str, os.PathLike or numpy.ndarray, optional
        A separate image of a 24-patch ColorChecker Classic. When the chart is
        in ``image`` itself, omit it (or pass ``image`` again) and give
        ``chart_corners``: the chart is then left out of the measured skin.
    chart_corners : sequence, optional
        The chart's corners ``x1, y1, ..., x4, y4`` (or four ``(x, y)``
        pairs) in pixels, clockwise from the corner of patch 1 ("dark skin").
    reference : str, os.PathLike or numpy.ndarray, optional
        An image of a grey card taken with the same camera settings.
    reference_rect : (x, y, w, h), optional
        A neutral patch, in ``reference`` when given, else in ``image``.
    reference_lightness : float
        The neutral reference's CIELAB L* (default 50).
    colour_constancy : {"shades-of-gray"}, optional
        Estimate the illuminant from the image itself (no reference).
    params : dict or str, optional
        Analysis parameters (``trichometry::Params`` as a dict or JSON, as
        in ``result.provenance["params"]``); missing keys take defaults, an
        unknown (misspelt) key raises ``ValueError``.

    Returns
    -------
    Analysis
        Every output field as an attribute, maps as numpy arrays, tables.
        It also keeps the decoded image and the maps in Rust, so that
        :func:`compare` can take it without analysing again (memory: about
        the image plus the maps once more; see :class:`Analysis`).

    Raises
    ------
    ValueError
        Invalid parameters (NaN, zero or negative ``um_per_px``, conflicting
        colour references, a wrong array dtype or shape).
    FileNotFoundError
        A file does not exist.
    TrichometryError
        ``DecodeError``, ``UnsupportedImageError``, ``ImageLimitsError``,
        ``ColourRequiredError``, ``CalibrationError`` (all ``ValueError``).
    """
    return _analyze(
        image,
        um_per_px=um_per_px,
        chart=chart,
        chart_corners=chart_corners,
        reference=reference,
        reference_rect=reference_rect,
        reference_lightness=reference_lightness,
        colour_constancy=colour_constancy,
        params=params,
        analyzer=None,
    )


def _analyze(
    image: ImageLike,
    *,
    um_per_px: Optional[float],
    chart: Optional[ImageLike],
    chart_corners: Optional[Sequence[Any]],
    reference: Optional[ImageLike],
    reference_rect: Optional[Sequence[int]],
    reference_lightness: float,
    colour_constancy: Optional[str],
    params: Optional[Union[Mapping[str, Any], str]],
    analyzer: Optional[_core.Analyzer],
) -> Analysis:
    img = _image_arg(image, "image")
    # The chart or grey card may be in the analysed image itself: then the core
    # must know, so that it leaves the reference out of the skin it measures.
    if chart is not None and _same_image(chart, image):
        if chart_corners is None:
            raise ValueError("chart_corners is required with chart")
        chart = None
    if reference is not None and reference_rect is not None and _same_image(reference, image):
        reference = None
    corners = None
    if chart_corners is not None:
        try:
            corners = [float(v) for v in np.asarray(chart_corners, dtype=float).ravel()]
        except (TypeError, ValueError) as e:
            raise ValueError(f"chart_corners: expected 8 numbers, {e}") from None
    rect = None if reference_rect is None else _rect_arg(reference_rect, "")
    if params is not None and not isinstance(params, str):
        params = json.dumps(dict(params))
    record, maps, handle = _core.analyze(
        img,
        um_per_px=None if um_per_px is None else float(um_per_px),
        chart=None if chart is None else _image_arg(chart, "chart"),
        chart_corners=corners,
        reference=None if reference is None else _image_arg(reference, "reference"),
        reference_rect=rect,
        reference_lightness=float(reference_lightness),
        colour_constancy=colour_constancy,
        params=params,
        analyzer=analyzer,
    )
    return Analysis(json.loads(record), maps, handle)


class Analyzer:
    """Analyse many images, keeping working memory between calls.

    :meth:`Analyzer.analyze` takes the arguments of :func:`analyze` and gives
    the same result, bit for bit; it is faster per image because the large
    buffers (the linear RGB planes and the hair stage's planes) are kept
    instead of being allocated, faulted in and zeroed on every call (a study run over thousands of images, a
    notebook loop, a Dask task per image).

    Safe to share between threads: concurrent calls never share a buffer
    and never wait for each other (each running call uses its own set; the
    sets are kept for the next calls). The GIL is released while an image is
    analysed.

    Memory held between calls (:attr:`resident_bytes`): about 270 MB per set
    after a 12 MP image at 3.5 µm/px (more at 2 µm/px), one set per call
    that ran at the same time; :meth:`clear` frees it, as does dropping the
    analyzer. Pickling gives a new, empty analyzer (for Dask workers).

    Examples
    --------
    >>> import trichometry
    >>> analyzer = trichometry.Analyzer()
    >>> images = [trichometry.synth(width=200, height=150, seed=s)[0] for s in (1, 2)]
    >>> results = [analyzer.analyze(im, um_per_px=3.5) for im in images]
    >>> results[1].to_dict() == trichometry.analyze(images[1], um_per_px=3.5).to_dict()
    True
    """

    __slots__ = ("_core",)

    def __init__(self) -> None:
        self._core = _core.Analyzer()

    def analyze(
        self,
        image: ImageLike,
        *,
        um_per_px: Optional[float] = None,
        chart: Optional[ImageLike] = None,
        chart_corners: Optional[Sequence[Any]] = None,
        reference: Optional[ImageLike] = None,
        reference_rect: Optional[Sequence[int]] = None,
        reference_lightness: float = 50.0,
        colour_constancy: Optional[str] = None,
        params: Optional[Union[Mapping[str, Any], str]] = None,
    ) -> Analysis:
        """Analyse one image: :func:`analyze`, with this analyzer's memory.

        Parameters, result and exceptions are those of :func:`analyze`; a
        call that raises leaves the analyzer usable.
        """
        return _analyze(
            image,
            um_per_px=um_per_px,
            chart=chart,
            chart_corners=chart_corners,
            reference=reference,
            reference_rect=reference_rect,
            reference_lightness=reference_lightness,
            colour_constancy=colour_constancy,
            params=params,
            analyzer=self._core,
        )

    @property
    def resident_bytes(self) -> int:
        """Bytes of working memory held between calls."""
        return self._core.resident_bytes

    def clear(self) -> None:
        """Free the working memory held (the analyzer stays usable)."""
        self._core.clear()

    def __reduce__(self) -> Tuple[type, Tuple[()]]:
        return (Analyzer, ())

    def __repr__(self) -> str:
        return (
            f"<trichometry.Analyzer: {self._core.scratches} buffer set(s),"
            f" {self.resident_bytes / 1e6:.0f} MB held>"
        )


_COLOUR_KEYS = (
    "chart",
    "chart_corners",
    "reference",
    "reference_rect",
    "reference_lightness",
    "colour_constancy",
)


def _colour_tuple(opts: Mapping[str, Any], who: str) -> Optional[tuple]:
    if not any(opts.get(k) is not None for k in _COLOUR_KEYS):
        return None
    corners = None
    if opts.get("chart_corners") is not None:
        try:
            corners = [float(v) for v in np.asarray(opts["chart_corners"], dtype=float).ravel()]
        except (TypeError, ValueError) as e:
            raise ValueError(f"{who}chart_corners: expected 8 numbers, {e}") from None
    rect = None if opts.get("reference_rect") is None else _rect_arg(opts["reference_rect"], who)
    lightness = opts.get("reference_lightness")
    return (
        None if opts.get("chart") is None else _image_arg(opts["chart"], who + "chart"),
        corners,
        None if opts.get("reference") is None else _image_arg(opts["reference"], who + "reference"),
        rect,
        50.0 if lightness is None else float(lightness),
        opts.get("colour_constancy"),
    )


def compare(
    baseline: Union[ImageLike, Analysis],
    followup: Union[ImageLike, Analysis],
    *,
    um_per_px: Optional[float] = None,
    params: Optional[Union[Mapping[str, Any], str]] = None,
    compare_params: Optional[Union[Mapping[str, Any], str]] = None,
    overlay: bool = True,
    **colour: Any,
) -> Comparison:
    """Compare a follow-up image of one spot with its baseline.

    Each visit given as an image is analysed; a visit given as the
    :class:`Analysis` that :func:`analyze` returned is used as it is, without
    analysing it again (the result keeps its image in Rust for this). The
    follow-up is registered to the baseline (rotation, scale, shift), hairs
    and capillaries are matched one to one, and every figure is recomputed
    on the shared field with a 95 % interval (paired tile bootstrap). The
    work runs in Rust with the GIL released. Comparing two results gives
    exactly what comparing their two images gives.

    Parameters
    ----------
    baseline, followup : str, os.PathLike, numpy.ndarray or Analysis
        The two visits: images (files or ``uint8``/``uint16`` sRGB arrays),
        results of :func:`analyze`, or one of each. A result must have been
        analysed with this ``um_per_px``.
    um_per_px : float, optional
        The device's nominal micrometres per pixel; registration finds the
        follow-up's true scale (the baseline's is the reference). Optional
        when a visit is given as a result: then the result's own scale (the
        baseline's when both are results; a follow-up result analysed at
        another scale is refused as usual).
    params : dict or str, optional
        Analysis parameters for the visits given as images. Beside a result,
        an image is analysed with the result's parameters by default; params
        that differ from a result's are an error (it is not analysed again).
    compare_params : dict or str, optional
        Comparison parameters (``trichometry::compare::CompareParams``);
        missing keys take defaults, an unknown key raises ``ValueError``.
    overlay : bool
        Also draw the change overlay.
    **colour
        The colour options of :func:`analyze` (``chart``, ``chart_corners``,
        ``reference``, ``reference_rect``, ``reference_lightness``,
        ``colour_constancy``) apply to both visits; prefixed with
        ``baseline_`` or ``followup_`` they apply to one visit (and replace
        the shared ones for that visit). Without a chart or reference patch
        on both visits, redness changes are reported but flagged
        ``comparable = False``. Colour options for a visit given as a result
        are an error: the result was already calibrated by :func:`analyze`.

    Returns
    -------
    Comparison

    Raises
    ------
    RegistrationError
        The images do not show the same spot, or share too little of it.
    ValueError
        Invalid parameters; a result analysed with another ``um_per_px`` or
        other ``params``; colour options for a visit given as a result.
    TypeError
        A visit that is neither an image nor a comparable :class:`Analysis`
        (e.g. one rebuilt by hand, which has no image to register); no
        ``um_per_px`` and no visit given as a result that has one.
    """
    if um_per_px is None:
        um_per_px = next(
            (
                v._record.get("um_per_px")
                for v in (baseline, followup)
                if isinstance(v, Analysis) and v._record.get("um_per_px") is not None
            ),
            None,
        )
        if um_per_px is None:
            raise TypeError(
                "compare() needs um_per_px: no visit is a result of analyze() with a scale"
            )
    shared: Dict[str, Any] = {}
    own: Dict[str, Dict[str, Any]] = {"baseline_": {}, "followup_": {}}
    for key, value in colour.items():
        for prefix in own:
            if key.startswith(prefix) and key[len(prefix):] in _COLOUR_KEYS:
                own[prefix][key[len(prefix):]] = value
                break
        else:
            if key not in _COLOUR_KEYS:
                raise TypeError(f"compare() got an unexpected keyword argument {key!r}")
            shared[key] = value
    tuples = {}
    for prefix, opts in own.items():
        chosen = opts if any(v is not None for v in opts.values()) else shared
        tuples[prefix] = _colour_tuple(chosen, prefix)
    if params is not None and not isinstance(params, str):
        params = json.dumps(dict(params))
    if compare_params is not None and not isinstance(compare_params, str):
        compare_params = json.dumps(dict(compare_params))
    record, maps = _core.compare(
        _visit_arg(baseline, "baseline"),
        _visit_arg(followup, "followup"),
        um_per_px=float(um_per_px),
        baseline_colour=tuples["baseline_"],
        followup_colour=tuples["followup_"],
        params=params,
        compare_params=compare_params,
        overlay=bool(overlay),
    )
    return Comparison(json.loads(record), maps)


def synth(
    *,
    width: int = 640,
    height: int = 480,
    um_per_px: float = 3.5,
    seed: int = 1,
    spec: Optional[Mapping[str, Any]] = None,
) -> Tuple[np.ndarray, dict]:
    """Render a phantom trichoscopy image with exact ground truth.

    Parameters
    ----------
    width, height : int
        Size in pixels.
    um_per_px : float
        Micrometres per pixel.
    seed : int
        The same spec and seed give the same image, bit for bit.
    spec : dict, optional
        A full scene spec (``trichometry::synth::SceneSpec``: skin, hairs,
        vessels, optics); the keywords above override its keys.

    Returns
    -------
    image : numpy.ndarray
        ``(H, W, 3)`` ``uint8``.
    truth : dict
        The ground truth (e.g. ``skin_a_star_mean``), the ``spec`` used, and
        ``skin_mask`` / ``glare_mask`` as boolean arrays.
    """
    full = dict(spec or {})
    full.update(width=int(width), height=int(height), um_per_px=float(um_per_px), seed=int(seed))
    image, truth_json, masks = _core.synth(json.dumps(full))
    parsed = json.loads(truth_json)
    truth = dict(parsed["truth"])
    truth["spec"] = parsed["spec"]
    truth.update(masks)
    return image, truth


def _same_image(a: Any, b: Any) -> bool:
    """Whether two image arguments are the same array or the same file."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is b
    try:
        return os.path.samefile(os.fspath(a), os.fspath(b))
    except (OSError, TypeError):
        return False


def _fspath(p: Any, name: str) -> str:
    try:
        return os.fspath(p)
    except TypeError:
        raise TypeError(f"{name}: expected a path, got {type(p).__name__}") from None


def _visit_arg(visit: Any, name: str) -> Any:
    """A compare() side: an Analysis's handle, or an image argument."""
    if isinstance(visit, Analysis):
        handle = getattr(visit, "_handle", None)
        if not isinstance(handle, _core.AnalysisHandle):
            raise TypeError(
                f"{name}: this Analysis carries no image to compare (it was not made by"
                " trichometry.analyze(), e.g. rebuilt by hand or unpickled); pass the image"
                " or analyse it again"
            )
        return handle
    return _image_arg(visit, name)


def _image_arg(image: Any, name: str) -> Union[str, np.ndarray]:
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, np.ndarray):
        if image.dtype not in (np.uint8, np.uint16):
            raise ValueError(
                f"{name}: expected a uint8 or uint16 array, got {image.dtype}{_dtype_hint(image)}"
            )
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
            raise ValueError(
                f"{name}: expected shape (H, W) or (H, W, 3), got {image.shape}{_shape_hint(image)}"
            )
        if image.dtype.byteorder not in ("=", "|"):
            image = image.astype(image.dtype.newbyteorder("="))
        return image
    raise TypeError(f"{name}: expected a path or a numpy array, got {type(image).__name__}")


def _rect_arg(value: Any, who: str) -> Tuple[int, int, int, int]:
    """A reference rectangle (x, y, w, h) in whole pixels, ``who`` naming
    the visit; a fractional or negative value is an error (it was rounded
    down silently before)."""
    try:
        vals = [float(v) for v in value]
    except (TypeError, ValueError):
        vals = []
    if len(vals) != 4 or any(not v.is_integer() or v < 0 for v in vals):
        raise ValueError(
            f"{who}reference_rect: expected (x, y, w, h) in whole pixels >= 0, got {value!r}"
        )
    x, y, w, h = (int(v) for v in vals)
    return x, y, w, h


def _dtype_hint(image: np.ndarray) -> str:
    """How to convert an array of another dtype (the conversion is the caller's choice)."""
    if image.dtype.kind == "f":
        return " (convert floats in [0, 1] with (a * 255).round().astype(np.uint8))"
    if image.dtype.kind in "iu":
        return " (convert integers in 0-255 with a.astype(np.uint8), in 0-65535 with a.astype(np.uint16))"
    return ""


def _shape_hint(image: np.ndarray) -> str:
    """How to get an (H, W) or (H, W, 3) array from a common other layout."""
    if image.ndim == 3 and image.shape[2] == 4:
        return " (RGBA: drop the alpha channel with a[..., :3])"
    if image.ndim == 3 and image.shape[2] == 1:
        return " (one channel: use a[..., 0])"
    if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[2] not in (3, 4):
        return " (channels first: use np.moveaxis(a, 0, -1)[..., :3])"
    return ""
