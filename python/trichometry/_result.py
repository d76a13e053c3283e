"""The result of :func:`trichometry.analyze`."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import _core

_MAPS = (
    "a_star_map",
    "erythema_index_map",
    "skin_mask",
    "glare_mask",
    "hair_mask",
    "hair_labels",
    "scale_mask",
    "yellow_dot_mask",
    "vessel_mask",
    "vessel_labels",
)
_NOT_SUMMARY = ("warnings", "provenance", "hairs", "capillaries", "yellow_dots")


class Analysis:
    """One analysed image.

    Every field of the output record is an attribute with the same name as
    the JSON key and CSV column (``erythema_a_star_median``, ``hair_count``,
    ``capillary_density_per_mm2``, …); ``None`` means "not measured".

    Maps are numpy arrays handed over from Rust without copying (``None`` when
    the stage did not run): ``a_star_map`` and ``erythema_index_map``
    (float32), ``skin_mask``, ``glare_mask``, ``hair_mask``, ``vessel_mask``,
    ``scale_mask``, ``yellow_dot_mask`` (bool), ``hair_labels`` and
    ``vessel_labels`` (uint32, 0 = background, label = the record's ``id``).

    ``hairs``, ``capillaries`` and ``yellow_dots`` are tables:
    ``dict[str, numpy.ndarray]``, one column per record field (polylines as an
    object column of ``(N, 2)`` arrays), ready for ``pandas.DataFrame``;
    ``hairs_frame()``, ``capillaries_frame()`` and ``yellow_dots_frame()``
    build that DataFrame.

    An Analysis made by :func:`trichometry.analyze` can be passed to
    :func:`trichometry.compare` in place of its image, without analysing it
    again. For that it keeps, in Rust, the decoded image and its own copy of
    the maps: about the image's size (3 bytes per pixel for 8-bit colour)
    plus the maps' size (up to about 21 bytes per pixel) beyond the numpy arrays
    above. Drop the Analysis (or its ``_handle``) to free it; an Analysis
    rebuilt by hand, or unpickled, has no handle and cannot be compared.
    """

    __slots__ = ("_record", "_maps", "_tables", "_handle")

    def __init__(
        self,
        record: Dict[str, Any],
        maps: Dict[str, Optional[np.ndarray]],
        handle: Any = None,
    ):
        self._record = record
        self._maps = maps
        self._tables: Dict[str, Dict[str, np.ndarray]] = {}
        # The image and core result in Rust, for compare() (None: not comparable).
        self._handle = handle

    def __getattr__(self, name: str) -> Any:
        record = object.__getattribute__(self, "_record")
        if name in record and name not in _NOT_SUMMARY:
            return record[name]
        raise AttributeError(f"'Analysis' object has no attribute {name!r}")

    def __dir__(self) -> List[str]:
        return sorted(set(object.__dir__(self)) | set(self._record))

    def __repr__(self) -> str:
        keys = (
            "width_px",
            "height_px",
            "um_per_px",
            "erythema_a_star_median",
            "hair_count",
            "capillary_count",
        )
        parts = [f"{k}={self._record[k]!r}" for k in keys if k in self._record]
        parts.append(f"warnings={self.warnings!r}")
        return f"Analysis({', '.join(parts)})"

    # The record ------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """The full record as plain Python data (what the CLI writes as JSON)."""
        return copy.deepcopy(self._record)

    def summary(self) -> Dict[str, Any]:
        """The flat image-level figures (no warnings, provenance or tables)."""
        return {k: v for k, v in self._record.items() if k not in _NOT_SUMMARY}

    @property
    def warnings(self) -> List[str]:
        """Warning codes (``uncalibrated_colour``, ``glare``, ``blurred``, …)."""
        return list(self._record.get("warnings", []))

    @property
    def provenance(self) -> Dict[str, Any]:
        """Version, parameters, calibration, input size and SHA-256."""
        return copy.deepcopy(self._record.get("provenance", {}))

    # Tables ----------------------------------------------------------------

    def _table(self, key: str) -> Dict[str, np.ndarray]:
        if key not in self._tables:
            self._tables[key] = records_to_table(
                self._record.get(key, []), _core.TABLE_COLUMNS.get(key, ())
            )
        return self._tables[key]

    @property
    def hairs(self) -> Dict[str, np.ndarray]:
        """One row per hair shaft, regionprops-table style: ``id`` (the label in
        ``hair_labels``), ``centreline_px`` (``(N, 2)`` x, y), ``length_um``,
        ``diameter_um``, ``diameter_iqr_um``, ``width_samples``, ``contrast``
        (peak absorbance, 0–1), ``truncated``, ``diameter_clipped`` (every width
        profile reached the non-analysable area: the diameter is the visible part's
        and the summary's diameter figures leave the shaft out), ``exit_px`` (the follicle exit (x, y),
        None or NaN where none was found), ``class`` (vellus / intermediate /
        terminal), ``pieces``.
        Every column is present even when there are no rows."""
        return self._table("hairs")

    @property
    def capillaries(self) -> Dict[str, np.ndarray]:
        """One row per capillary, regionprops-table style: ``id`` (the label in
        ``vessel_labels``), ``class``, ``centroid_x_px``, ``centroid_y_px``,
        ``centroid_x_um``, ``centroid_y_um``, ``area_um2``, ``length_um``,
        ``width_um``, ``extent_um``, ``elongation``, ``tortuosity``, ``turns``,
        ``branch_count``, ``contrast_a_star``, ``contrast_peak``. Every column
        is present even when there are no rows."""
        return self._table("capillaries")

    @property
    def yellow_dots(self) -> Dict[str, np.ndarray]:
        """One row per yellow dot: ``id``, ``centre_x_px``, ``centre_y_px``,
        ``centre_x_um``, ``centre_y_um``, ``diameter_um``, ``area_um2``,
        ``elongation``, ``contrast_b_star``, ``contrast_l_star``,
        ``contrast_chroma``, ``truncated``."""
        return self._table("yellow_dots")

    def hairs_frame(self) -> Any:
        """``hairs`` as a pandas DataFrame (needs pandas)."""
        return _frame(self.hairs, "hairs_frame")

    def capillaries_frame(self) -> Any:
        """``capillaries`` as a pandas DataFrame (needs pandas)."""
        return _frame(self.capillaries, "capillaries_frame")

    def yellow_dots_frame(self) -> Any:
        """``yellow_dots`` as a pandas DataFrame (needs pandas)."""
        return _frame(self.yellow_dots, "yellow_dots_frame")

    # Maps ------------------------------------------------------------------

    @property
    def a_star_map(self) -> Optional[np.ndarray]:
        """CIELAB a* per pixel (float32), ``None`` for greyscale input."""
        return self._maps.get("a_star_map")

    @property
    def erythema_index_map(self) -> Optional[np.ndarray]:
        """Erythema index 100·log10(R/G) per pixel (float32)."""
        return self._maps.get("erythema_index_map")

    @property
    def skin_mask(self) -> Optional[np.ndarray]:
        """Skin pixels the erythema figures ran over (bool)."""
        return self._maps.get("skin_mask")

    @property
    def glare_mask(self) -> Optional[np.ndarray]:
        """Glare pixels (bool)."""
        return self._maps.get("glare_mask")

    @property
    def hair_mask(self) -> Optional[np.ndarray]:
        """Hair pixels (bool), ``None`` when the hair stage did not run."""
        return self._maps.get("hair_mask")

    @property
    def hair_labels(self) -> Optional[np.ndarray]:
        """One label per shaft (uint32, 0 = no hair)."""
        return self._maps.get("hair_labels")

    @property
    def scale_mask(self) -> Optional[np.ndarray]:
        """Scale (flake) pixels (bool), ``None`` when the stage did not run
        (no ``um_per_px``, or a greyscale image)."""
        return self._maps.get("scale_mask")

    @property
    def yellow_dot_mask(self) -> Optional[np.ndarray]:
        """Yellow-dot pixels (bool), ``None`` when the stage did not run."""
        return self._maps.get("yellow_dot_mask")

    @property
    def vessel_mask(self) -> Optional[np.ndarray]:
        """Vessel pixels (bool), ``None`` when the vessel stage did not run."""
        return self._maps.get("vessel_mask")

    @property
    def vessel_labels(self) -> Optional[np.ndarray]:
        """One label per capillary (uint32, 0 = none)."""
        return self._maps.get("vessel_labels")


def _frame(table: Dict[str, np.ndarray], what: str) -> Any:
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError(
            f"{what}() needs pandas (pip install pandas); the plain table is a dict of arrays"
        ) from e
    return pd.DataFrame(table)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _cell(v: Any) -> Any:
    """A list of numbers or of [x, y] pairs becomes an array; anything else stays."""
    if isinstance(v, list):
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            return v
        return a.reshape(0, 2) if a.size == 0 else a
    return v


def _column(values: List[Any]) -> np.ndarray:
    present = [v for v in values if v is not None]
    complete = len(present) == len(values)
    if present and complete and all(isinstance(v, bool) for v in present):
        return np.array(values, dtype=bool)
    if present and complete and all(_is_int(v) for v in present):
        return np.array(values, dtype=np.int64)
    if all(_is_int(v) or isinstance(v, float) for v in present):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = _cell(v)
    return out


def records_to_table(
    records: List[Dict[str, Any]], columns: Sequence[str] = ()
) -> Dict[str, np.ndarray]:
    """Serde records → ``dict[str, ndarray]`` (one column per key, first-seen order).

    Integers → int64 (float64 with NaN when some are missing), floats →
    float64, booleans → bool, everything else (strings, polylines, nested
    objects) → an object column; polylines become ``(N, 2)`` float arrays.
    ``columns`` come first and are present even without records (then as
    empty float64 columns).
    """
    names: Dict[str, None] = dict.fromkeys(columns)
    for r in records:
        for k in r:
            names.setdefault(k, None)
    return {k: _column([r.get(k) for r in records]) for k in names}
