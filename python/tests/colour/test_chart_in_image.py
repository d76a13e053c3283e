"""A chart inside the analysed image: calibrated, and left out of the skin."""

import numpy as np
import pytest

import trichometry as tm

CAST = [[1.1, 0.05, 0.0], [0.0, 0.95, 0.0], [0.0, 0.05, 0.85]]


@pytest.fixture(scope="module")
def cast_phantom():
    spec = {
        "chart": {},
        "optics": {"blur_sigma_um": 2.0, "colour_matrix": CAST, "jpeg_quality": 90,
                   "noise": {"full_well": 4000.0, "read_noise": 6.0}},
    }
    return tm.synth(width=900, height=700, um_per_px=3.0, seed=12, spec=spec)


@pytest.mark.parametrize("how", ["corners_only", "same_array"])
def test_chart_in_image_corrects_cast_and_is_not_skin(cast_phantom, how):
    image, truth = cast_phantom
    chart = image if how == "same_array" else None
    r = tm.analyze(image, um_per_px=3.0, chart=chart, chart_corners=truth["chart_corners_px"])
    assert r.colour_calibration == "chart"
    assert r.colour_delta_e2000_mean < 2.0
    assert abs(r.erythema_a_star_mean - truth["skin_a_star_mean"]) < 0.5
    # No chart pixel is measured as skin.
    chart_px = ~np.asarray(truth["skin_mask"])
    assert not np.any(r.skin_mask & chart_px)


def test_uncalibrated_cast_is_flagged_and_off(cast_phantom):
    image, truth = cast_phantom
    r = tm.analyze(image, um_per_px=3.0)
    assert r.colour_calibration == "none"
    assert "uncalibrated_colour" in r.warnings
    # The cast moves a* by more than the calibrated tolerance: calibration matters.
    assert abs(r.erythema_a_star_mean - truth["skin_a_star_mean"]) > 1.0
