import sys

import numpy as np
import pytest

import trichometry
from trichometry._result import Analysis, records_to_table

HAIRS = [
    {"id": 1, "diameter_um": 41.5, "truncated": False, "class": "terminal",
     "centreline_px": [[0.0, 1.0], [2.0, 3.5], [4.0, 6.0]], "follicle_exit_px": None},
    {"id": 2, "diameter_um": 22.0, "truncated": True, "class": "vellus",
     "centreline_px": [], "follicle_exit_px": [3.0, 4.0]},
]


def test_records_become_regionprops_style_columns():
    t = records_to_table(HAIRS)
    assert list(t) == ["id", "diameter_um", "truncated", "class", "centreline_px", "follicle_exit_px"]
    assert t["id"].dtype == np.int64 and list(t["id"]) == [1, 2]
    assert t["diameter_um"].dtype == np.float64
    assert t["truncated"].dtype == bool and list(t["truncated"]) == [False, True]
    assert t["class"].dtype == object and list(t["class"]) == ["terminal", "vellus"]
    assert t["centreline_px"][0].shape == (3, 2) and t["centreline_px"][1].shape == (0, 2)
    assert t["follicle_exit_px"][0] is None
    np.testing.assert_array_equal(t["follicle_exit_px"][1], [3.0, 4.0])
    # Missing integers become NaN floats rather than failing.
    t2 = records_to_table([{"n": 1}, {"n": None}])
    assert t2["n"].dtype == np.float64 and np.isnan(t2["n"][1])
    assert records_to_table([]) == {}


def test_frames_with_pandas():
    pd = pytest.importorskip("pandas")
    r = Analysis({"hairs": HAIRS, "capillaries": []}, {})
    df = r.hairs_frame()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == list(r.hairs)
    assert len(df) == 2 and df["diameter_um"].iloc[0] == 41.5
    assert len(r.capillaries_frame()) == 0


def test_frames_without_pandas_say_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    r = Analysis({"hairs": HAIRS}, {})
    with pytest.raises(ImportError, match="pip install pandas"):
        r.hairs_frame()
    # The plain table needs no pandas.
    assert len(r.hairs["id"]) == 2


def test_synth_is_deterministic_and_carries_truth():
    a, ta = trichometry.synth(width=120, height=80, seed=4)
    b, tb = trichometry.synth(width=120, height=80, seed=4)
    assert a.shape == (80, 120, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert ta["skin_a_star_mean"] == tb["skin_a_star_mean"]
    assert ta["spec"]["width"] == 120 and ta["spec"]["seed"] == 4
    assert ta["skin_mask"].shape == (80, 120) and ta["skin_mask"].dtype == bool
    with pytest.raises(ValueError):
        trichometry.synth(um_per_px=-1.0)
    with pytest.raises(ValueError):
        trichometry.synth(spec={"optics": {"no_such_key": 1}, "skin": "not a dict"})
    # A mistyped size is an error, not an allocation that aborts the kernel.
    with pytest.raises(trichometry.ImageLimitsError, match="exceeds the limit"):
        trichometry.synth(width=10**7, height=10**7)


def test_synth_refuses_misspelt_keys_and_reads_its_own_spec_back():
    # A misspelt key was silently left at its default (a scene without hairs).
    with pytest.raises(ValueError, match="unknown field `hair`"):
        trichometry.synth(width=64, height=48, spec={"hair": {}})
    with pytest.raises(ValueError, match="unknown field `no_such_key`"):
        trichometry.synth(width=64, height=48, spec={"optics": {"no_such_key": 1}})
    # The spec a phantom's truth carries renders the same phantom again.
    a, ta = trichometry.synth(width=96, height=64, seed=5, spec={"hairs": {}, "vessels": {}})
    b, _ = trichometry.synth(width=96, height=64, seed=5, spec=ta["spec"])
    np.testing.assert_array_equal(a, b)
