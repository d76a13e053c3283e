"""compare() taking the results of analyze() instead of (or beside) images."""

import copy
import pickle

import numpy as np
import pytest

import trichometry
from trichometry import Analysis

UM = 4.0


@pytest.fixture(scope="module")
def scene():
    """Two overlapping windows of one phantom with hairs and capillaries,
    their results, and the comparison of the two images."""
    img, _ = trichometry.synth(
        width=900, height=640, um_per_px=UM, seed=3, spec={"hairs": {}, "vessels": {}}
    )
    b = img[20:500, 40:680].copy()
    f = img[60:540, 0:640].copy()
    rb = trichometry.analyze(b, um_per_px=UM)
    rf = trichometry.analyze(f, um_per_px=UM)
    return b, f, rb, rf, trichometry.compare(b, f, um_per_px=UM)


def _assert_same(c, ref):
    d, dref = c.to_dict(), ref.to_dict()
    # Every delta field and every match count, then the whole record.
    assert set(d["deltas"]) == set(dref["deltas"])
    for metric, fields in dref["deltas"].items():
        assert d["deltas"][metric] == fields, metric
    assert d["matches"] == dref["matches"]
    assert d["registration"] == dref["registration"]
    assert d == dref
    for name in ("delta_a_star_map", "shared_mask", "overlap_mask", "overlay"):
        a, e = getattr(c, name), getattr(ref, name)
        assert a.dtype == e.dtype and np.array_equal(a, e, equal_nan=True), name


def test_results_compare_like_their_images(scene):
    b, f, rb, rf, ref = scene
    # The scene has something to match, so the equality below means something.
    m = ref.matches
    assert m["hairs_matched"] > 10 and m["capillaries_matched"] > 30
    _assert_same(trichometry.compare(rb, rf, um_per_px=UM), ref)
    # The results stay usable and comparable again.
    _assert_same(trichometry.compare(rb, rf, um_per_px=UM), ref)
    assert rb.hair_count is not None and rb.a_star_map.shape == b.shape[:2]


def test_mixed_result_and_image(scene):
    b, f, rb, rf, ref = scene
    _assert_same(trichometry.compare(rb, f, um_per_px=UM), ref)
    _assert_same(trichometry.compare(b, rf, um_per_px=UM), ref)


def test_scale_taken_from_the_results(scene):
    b, f, rb, rf, ref = scene
    _assert_same(trichometry.compare(rb, rf), ref)
    _assert_same(trichometry.compare(b, rf), ref)
    # A result without a scale gives none; images alone give none.
    with pytest.raises(TypeError, match="needs um_per_px"):
        trichometry.compare(b, f)
    with pytest.raises(TypeError, match="needs um_per_px"):
        trichometry.compare(trichometry.analyze(b), f)
    # The baseline's scale is the one passed on, so a follow-up analysed at
    # another scale is refused as if it had been given explicitly.
    other = trichometry.analyze(f, um_per_px=4.5)
    with pytest.raises(ValueError, match=r"followup: .*um_per_px=4\.5"):
        trichometry.compare(rb, other)


def test_copies_stay_comparable(scene):
    _, _, rb, rf, ref = scene
    _assert_same(trichometry.compare(copy.deepcopy(rb), copy.copy(rf), um_per_px=UM), ref)


def test_result_with_another_scale_is_refused(scene):
    b, f, rb, rf, _ = scene
    with pytest.raises(ValueError, match=r"baseline: the result was analysed with um_per_px=4"):
        trichometry.compare(rb, f, um_per_px=4.5)
    with pytest.raises(ValueError, match=r"followup: .*um_per_px=4\.0"):
        trichometry.compare(b, rf, um_per_px=4.0 * (1 + 1e-9))
    unscaled = trichometry.analyze(f)
    with pytest.raises(ValueError, match="no um_per_px"):
        trichometry.compare(rb, unscaled, um_per_px=UM)


def test_colour_options_with_a_result_are_refused(scene):
    b, f, rb, rf, _ = scene
    with pytest.raises(ValueError, match="already calibrated"):
        trichometry.compare(rb, rf, um_per_px=UM, colour_constancy="shades-of-gray")
    # Options for the image side only are fine; for the result side, not.
    c = trichometry.compare(rb, f, um_per_px=UM, followup_colour_constancy="shades-of-gray")
    assert c.matches["hairs_matched"] > 10
    with pytest.raises(ValueError, match="baseline: colour options .*already calibrated"):
        trichometry.compare(rb, f, um_per_px=UM, baseline_reference_rect=(0, 0, 10, 10))


def test_params_other_than_the_results_are_refused(scene):
    _, f, rb, rf, _ = scene
    with pytest.raises(ValueError, match="params differ from those the baseline result"):
        trichometry.compare(rb, f, um_per_px=UM, params={"hairs": {"min_length_um": 123.0}})
    # The result's own parameters are accepted.
    c = trichometry.compare(rb, rf, um_per_px=UM, params=rb.provenance["params"])
    assert c.matches["hairs_matched"] > 10


def test_results_without_a_handle_are_refused(scene):
    b, _, rb, _, _ = scene
    by_hand = Analysis(rb.to_dict(), {})
    with pytest.raises(TypeError, match="followup: this Analysis carries no image"):
        trichometry.compare(b, by_hand, um_per_px=UM)
    # A pickled result keeps its figures but not its image.
    back = pickle.loads(pickle.dumps(rb))
    assert back.hair_count == rb.hair_count and back._handle is None
    with pytest.raises(TypeError, match="baseline: this Analysis carries no image"):
        trichometry.compare(back, b, um_per_px=UM)
    with pytest.raises(TypeError, match="expected a path or a numpy array"):
        trichometry.compare(b, {"hair_count": 3}, um_per_px=UM)


def test_recheck_of_unmatched_hairs_is_the_default(scene):
    """The re-check runs by default and compare_params turns it off; its
    evidence is in the record: a `rechecked` flag on every hair match and a
    count."""
    b, f, rb, rf, c = scene
    ref = trichometry.compare(
        rb, rf, um_per_px=UM, compare_params={"recheck_unmatched_hairs": False}
    )
    assert ref.matches["hairs_rechecked"] == 0
    assert all(r["rechecked"] is False and r["recheck"] is None for r in ref.hair_matches)
    on = trichometry.compare(rb, rf, um_per_px=UM, compare_params={"recheck_unmatched_hairs": True})
    assert on.matches == c.matches
    m, m0 = c.matches, ref.matches
    rows = [r for r in c.hair_matches if r["rechecked"]]
    assert len(rows) == m["hairs_rechecked"]
    assert all(r["recheck"]["remeasured"] in ("baseline", "followup") for r in rows)
    # A re-check only turns unmatched hairs into matches.
    assert m["hairs_gained"] <= m0["hairs_gained"] and m["hairs_lost"] <= m0["hairs_lost"]
    assert m["hairs_matched"] >= m0["hairs_matched"]
    assert m["hair_count_change"] == m["hairs_gained"] - m["hairs_lost"]
    # Records joined to a matched pair as part of one hair (split or
    # merged) are rows of their own, counted neither gained nor lost.
    joined = [r for r in c.hair_matches if r["change"] == "split_or_merged"]
    assert len(joined) == m["hairs_split_or_merged_baseline"] + m["hairs_split_or_merged_followup"]
    assert all(r["baseline_id"] is not None and r["followup_id"] is not None for r in joined)
    off = trichometry.compare(rb, rf, um_per_px=UM, compare_params={"join_split_hairs": False})
    mo = off.matches
    assert mo["hairs_split_or_merged_baseline"] == mo["hairs_split_or_merged_followup"] == 0
    assert mo["hairs_gained"] == m["hairs_gained"] + m["hairs_split_or_merged_followup"]
    assert mo["hairs_lost"] == m["hairs_lost"] + m["hairs_split_or_merged_baseline"]
