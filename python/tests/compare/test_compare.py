import numpy as np
import pytest

import trichometry


def _skin(h, w, seed):
    """A textured skin-like sRGB image (smooth random lightness)."""
    rng = np.random.default_rng(seed)
    field = np.zeros((h, w))
    for cell, amp in ((40, 0.5), (12, 0.35), (4, 0.25)):
        small = rng.standard_normal((h // cell + 2, w // cell + 2))
        up = np.kron(small, np.ones((cell, cell)))[:h, :w]
        # A box blur over one cell smooths the blocks.
        k = np.ones(cell) / cell
        up = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, up)
        up = np.apply_along_axis(lambda c: np.convolve(c, k, mode="same"), 0, up)
        field += amp * up
    base = np.array([190.0, 140.0, 120.0])
    img = base[None, None, :] * (1.0 + 0.15 * field[..., None])
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pair():
    big = _skin(600, 800, 5)
    return big[40:520, 60:700].copy(), big[70:550, 20:660].copy()


def test_compare_registers_and_reports(pair):
    b, f = pair
    c = trichometry.compare(b, f, um_per_px=5.0)
    reg = c.registration
    # Follow-up pixel (x, y) is baseline pixel (x − 40, y + 30).
    assert abs(reg["rotation_deg"]) < 0.1
    assert abs(reg["scale"] - 1.0) < 0.002
    assert abs(reg["translation_um"][0] - (-40 * 5.0)) < 2.5
    assert abs(reg["translation_um"][1] - (30 * 5.0)) < 2.5
    assert 0.8 < reg["overlap_fraction"] < 0.95
    # Redness without a colour reference: reported, flagged not comparable.
    d = c.deltas["erythema_a_star_median"]
    assert d["comparable"] is False and d["significant"] is False
    assert abs(d["delta"]) < 0.5
    assert c.delta_a_star_map.shape == (480, 640)
    assert c.shared_mask.dtype == bool
    # The shared field lies within the frames' overlap.
    assert c.overlap_mask.dtype == bool and not (c.shared_mask & ~c.overlap_mask).any()
    assert c.overlay.shape == (480, 640, 3)
    s = c.summary()
    assert "erythema_a_star_median" in list(s.index)
    assert not s["significant"].any()


def test_compare_refuses_different_spots(pair):
    b, _ = pair
    other = _skin(480, 640, 99)
    with pytest.raises(trichometry.RegistrationError):
        trichometry.compare(b, other, um_per_px=5.0)


def test_compare_rejects_unknown_keywords(pair):
    b, f = pair
    with pytest.raises(TypeError):
        trichometry.compare(b, f, um_per_px=5.0, baseline_colour_temperature=1)


def test_compare_refuses_misspelt_parameters(pair):
    # Checked before any analysis: a misspelt key is named, not ignored.
    b, f = pair
    with pytest.raises(ValueError, match="unknown field `recheck_unmatched_hair`"):
        trichometry.compare(b, f, um_per_px=5.0, compare_params={"recheck_unmatched_hair": False})
    with pytest.raises(ValueError, match="unknown field `min_lenght_um`"):
        trichometry.compare(b, f, um_per_px=5.0, params={"hairs": {"min_lenght_um": 1.0}})
