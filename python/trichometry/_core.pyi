"""Type stubs of the compiled core (trichometry._core)."""

import os
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

__version__: str
# The columns of the per-object tables ("hairs", "capillaries", "yellow_dots").
TABLE_COLUMNS: Dict[str, Sequence[str]]

_Image = Union[str, os.PathLike[str], np.ndarray]

class TrichometryError(ValueError): ...
class DecodeError(TrichometryError): ...
class UnsupportedImageError(TrichometryError): ...
class ImageLimitsError(TrichometryError): ...
class ColourRequiredError(TrichometryError): ...
class CalibrationError(TrichometryError): ...
class RegistrationError(TrichometryError): ...

class AnalysisHandle:
    """Opaque: one analysis in Rust (the decoded image and the core result)."""
    @property
    def um_per_px(self) -> Optional[float]: ...

class Analyzer:
    """Working memory kept between analyses (a pool of scratches)."""
    def __init__(self) -> None: ...
    @property
    def resident_bytes(self) -> int: ...
    @property
    def scratches(self) -> int: ...
    def clear(self) -> None: ...

def load(path: Union[str, os.PathLike[str]]) -> np.ndarray: ...
def analyze(
    image: _Image,
    *,
    um_per_px: Optional[float] = None,
    chart: Optional[_Image] = None,
    chart_corners: Optional[Sequence[float]] = None,
    reference: Optional[_Image] = None,
    reference_rect: Optional[Tuple[int, int, int, int]] = None,
    reference_lightness: float = 50.0,
    colour_constancy: Optional[str] = None,
    params: Optional[str] = None,
    analyzer: Optional[Analyzer] = None,
) -> Tuple[str, Dict[str, Optional[np.ndarray]], AnalysisHandle]: ...
_ColourTuple = Tuple[
    Optional[_Image],
    Optional[Sequence[float]],
    Optional[_Image],
    Optional[Tuple[int, int, int, int]],
    float,
    Optional[str],
]

def compare(
    baseline: Union[_Image, AnalysisHandle],
    followup: Union[_Image, AnalysisHandle],
    *,
    um_per_px: float,
    baseline_colour: Optional[_ColourTuple] = None,
    followup_colour: Optional[_ColourTuple] = None,
    params: Optional[str] = None,
    compare_params: Optional[str] = None,
    overlay: bool = True,
) -> Tuple[str, Dict[str, Optional[np.ndarray]]]: ...
def synth(spec: str) -> Tuple[np.ndarray, str, Dict[str, np.ndarray]]: ...
