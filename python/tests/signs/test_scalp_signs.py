"""Yellow dots and scales through the Python binding (accuracy is asserted in
the Rust tests; here: the table, the masks, the summary and the units)."""

import numpy as np
import pytest

import trichometry

SPEC = {
    "hairs": {
        "density_per_cm2": 150.0,
        "yellow_dots_per_cm2": 400.0,
        "white_dots_per_cm2": 300.0,
        "scales_per_cm2": 120.0,
    },
    "optics": {
        "blur_sigma_um": 2.0,
        "vignetting": 0.15,
        "glare_spots": 4,
        "glare_radius_um": 60.0,
        "noise": {"full_well": 4000.0, "read_noise": 6.0},
        "jpeg_quality": 90,
    },
}


@pytest.fixture(scope="module")
def scene():
    image, truth = trichometry.synth(width=900, height=700, um_per_px=3.5, seed=5, spec=SPEC)
    return image, truth, trichometry.analyze(image, um_per_px=3.5)


def test_yellow_dots_table_and_summary(scene):
    _, truth, r = scene
    t = r.yellow_dots
    n = len(t["id"])
    assert r.yellow_dot_count == n
    assert list(t)[:7] == [
        "id",
        "centre_x_px",
        "centre_y_px",
        "centre_x_um",
        "centre_y_um",
        "diameter_um",
        "area_um2",
    ]
    assert t["diameter_um"].dtype == np.float64 and t["truncated"].dtype == bool
    np.testing.assert_allclose(t["centre_x_um"], t["centre_x_px"] * 3.5)
    assert np.all((t["diameter_um"] >= 60) & (t["diameter_um"] <= 600))
    assert np.all(t["contrast_b_star"] > 0) and np.all(t["contrast_l_star"] > 0)
    # Against the phantom: dots at least half visible (not under hair/scale).
    visible = [d for d in truth["hairs"]["yellow_dots"] if d["visible_fraction"] >= 0.5]
    everything = truth["hairs"]["yellow_dots"]
    assert len(visible) >= 10
    assert len(visible) * 0.85 <= n <= len(everything) * 1.1
    # Every visible dot has a detection within half its diameter.
    cx, cy = t["centre_x_px"], t["centre_y_px"]
    hits = sum(
        np.min(np.hypot(cx - d["centre_px"][0], cy - d["centre_px"][1])) * 3.5
        <= 0.5 * d["diameter_um"]
        for d in visible
    )
    assert hits >= 0.9 * len(visible)
    area_cm2 = (~r.glare_mask).sum() * 3.5**2 * 1e-8
    assert r.yellow_dot_density_per_cm2 == pytest.approx(n / area_cm2, rel=1e-6)


def test_scale_mask_and_fraction(scene):
    _, truth, r = scene
    m = r.scale_mask
    assert m.dtype == bool and m.shape == (700, 900)
    assert r.yellow_dot_mask.dtype == bool and r.yellow_dot_mask.any()
    valid = ~r.glare_mask
    assert r.scale_area_fraction == pytest.approx(m[valid].sum() / valid.sum(), rel=1e-9)
    assert r.scale_area_mm2 == pytest.approx(m.sum() * 3.5**2 * 1e-6, rel=1e-9)
    true_frac = truth["hairs"]["scale_area_fraction"]
    assert abs(r.scale_area_fraction - true_frac) <= 0.3 * true_frac + 0.003
    # Scales are not skin.
    assert not (m & r.skin_mask).any()


def test_frame_and_no_scale(scene):
    pd = pytest.importorskip("pandas")
    image, _, r = scene
    df = r.yellow_dots_frame()
    assert isinstance(df, pd.DataFrame) and len(df) == r.yellow_dot_count
    none = trichometry.analyze(image)
    assert none.yellow_dot_count is None and none.scale_area_fraction is None
    assert none.scale_mask is None and none.yellow_dot_mask is None
    # No rows (the columns are kept, as for a table with rows).
    assert len(none.yellow_dots_frame()) == 0
    assert all(len(col) == 0 for col in none.yellow_dots.values())
    grey = trichometry.analyze(image[:, :, 0], um_per_px=3.5)
    assert grey.scale_area_fraction is None and grey.scale_mask is None
