import threading
import time

import numpy as np
import pytest

import trichometry

CONTRACT = [
    "width_px",
    "height_px",
    "um_per_px",
    "analysed_area_mm2",
    "erythema_a_star_mean",
    "erythema_a_star_median",
    "erythema_a_star_p10",
    "erythema_a_star_p90",
    "erythema_index_mean",
    "erythema_index_median",
    "colour_calibration",
    "colour_delta_e2000_mean",
    "glare_fraction",
    "focus_score",
]


@pytest.fixture(scope="module")
def phantom():
    return trichometry.synth(width=320, height=240, um_per_px=3.5, seed=11)


def test_a_star_and_ei_match_the_phantom_truth(phantom):
    image, truth = phantom
    r = trichometry.analyze(image, um_per_px=3.5)
    assert abs(r.erythema_a_star_mean - truth["skin_a_star_mean"]) < 0.5
    assert abs(r.erythema_a_star_median - truth["skin_a_star_median"]) < 0.5
    assert abs(r.erythema_index_median - truth["skin_erythema_index_median"]) < 1.0
    assert r.colour_calibration == "none"
    assert "uncalibrated_colour" in r.warnings
    assert r.width_px == 320 and r.height_px == 240
    assert r.analysed_area_mm2 == pytest.approx(r.skin_mask.sum() * 3.5**2 * 1e-6)


def test_every_record_key_is_an_attribute(phantom):
    image, _ = phantom
    r = trichometry.analyze(image, um_per_px=3.5)
    d = r.to_dict()
    for key in CONTRACT:
        assert key in d
    for key, value in r.summary().items():
        assert getattr(r, key) == value
        assert key in dir(r)
    assert isinstance(r.provenance, dict) and r.provenance["version"] == trichometry.__version__
    assert r.provenance["input_size_px"] == [320, 240]
    # to_dict is a copy: changing it leaves the result alone.
    d["width_px"] = -1
    assert r.width_px == 320
    with pytest.raises(AttributeError):
        r.no_such_field


def test_maps_are_numpy_without_copies(phantom):
    image, truth = phantom
    r = trichometry.analyze(image, um_per_px=3.5)
    for name, dtype in [
        ("a_star_map", np.float32),
        ("erythema_index_map", np.float32),
        ("skin_mask", np.bool_),
        ("glare_mask", np.bool_),
        ("hair_mask", np.bool_),
        ("hair_labels", np.uint32),
        ("vessel_mask", np.bool_),
        ("vessel_labels", np.uint32),
    ]:
        m = getattr(r, name)
        assert m is not None, name
        assert m.shape == (240, 320), name
        assert m.dtype == dtype, name
        assert not m.flags.owndata, f"{name} was copied"
    # The map and the summary agree.
    assert float(np.median(r.a_star_map[r.skin_mask])) == pytest.approx(r.erythema_a_star_median, abs=1e-4)
    assert abs(float(r.a_star_map.mean()) - truth["skin_a_star_mean"]) < 0.5


def test_without_scale_no_physical_units(phantom):
    image, _ = phantom
    r = trichometry.analyze(image)
    assert r.um_per_px is None and r.analysed_area_mm2 is None
    assert "no_scale" in r.warnings
    assert r.hair_mask is None and r.vessel_mask is None
    # No rows, but the columns are there (code written for an image with
    # hairs runs on one without).
    for table in (r.hairs, r.capillaries, r.yellow_dots):
        assert table and all(len(col) == 0 for col in table.values())
    assert "diameter_um" in r.hairs and "class" in r.capillaries


def test_array_path_and_views_agree(tmp_path, testdata):
    path = testdata / "example.jpg"
    from_path = trichometry.analyze(path, um_per_px=3.5)
    img = trichometry.load(path)
    from_array = trichometry.analyze(img, um_per_px=3.5)
    assert from_path.summary() == from_array.summary()
    # Only the path knows the file's hash.
    assert len(from_path.provenance["input_sha256"]) == 64
    assert from_array.provenance["input_sha256"] is None
    # Read-only arrays are fine (nothing is written to the input).
    ro = img.copy()
    ro.flags.writeable = False
    assert trichometry.analyze(ro, um_per_px=3.5).summary() == from_array.summary()
    # A non-contiguous view is copied and gives the same result as its copy.
    flipped = img[:, ::-1]
    assert not flipped.flags.c_contiguous
    a = trichometry.analyze(flipped, um_per_px=3.5)
    b = trichometry.analyze(np.ascontiguousarray(flipped), um_per_px=3.5)
    assert a.summary() == b.summary()
    np.testing.assert_array_equal(a.a_star_map, b.a_star_map)
    # The input array is not modified.
    np.testing.assert_array_equal(img, trichometry.load(path))


def test_greyscale_and_16_bit_arrays(phantom):
    image, truth = phantom
    grey = image.mean(axis=2).astype(np.uint8)
    r = trichometry.analyze(grey, um_per_px=3.5)
    assert r.erythema_a_star_mean is None and r.a_star_map is None
    assert "greyscale" in r.warnings
    wide = image.astype(np.uint16) * 257  # the same colours on 16 bits
    r16 = trichometry.analyze(wide, um_per_px=3.5)
    assert abs(r16.erythema_a_star_mean - truth["skin_a_star_mean"]) < 0.5


@pytest.mark.parametrize(
    "bad",
    [float("nan"), -3.5, 0.0, float("inf")],
)
def test_bad_scale_is_a_value_error(phantom, bad):
    image, _ = phantom
    with pytest.raises(ValueError, match="um_per_px") as info:
        trichometry.analyze(image, um_per_px=bad)
    assert not isinstance(info.value, trichometry.TrichometryError)


@pytest.mark.parametrize(
    ("image", "exc"),
    [
        (np.zeros((10, 10, 3), dtype=np.float32), ValueError),
        (np.zeros((10, 10, 4), dtype=np.uint8), ValueError),
        (np.zeros((10,), dtype=np.uint8), ValueError),
        (np.zeros((0, 10, 3), dtype=np.uint8), trichometry.UnsupportedImageError),
        ([[1, 2], [3, 4]], TypeError),
        (None, TypeError),
    ],
)
def test_bad_arrays(image, exc):
    with pytest.raises(exc):
        trichometry.analyze(image, um_per_px=3.5)


@pytest.mark.parametrize(
    ("image", "hint"),
    [
        (np.zeros((10, 10, 3), dtype=np.float32), "(a * 255).round().astype(np.uint8)"),
        (np.zeros((10, 10, 3), dtype=np.int64), "a.astype(np.uint8)"),
        (np.zeros((10, 10, 4), dtype=np.uint8), "a[..., :3]"),
        (np.zeros((10, 10, 1), dtype=np.uint8), "a[..., 0]"),
        (np.zeros((3, 10, 12), dtype=np.uint8), "np.moveaxis(a, 0, -1)"),
    ],
)
def test_bad_arrays_say_how_to_convert(image, hint):
    with pytest.raises(ValueError) as info:
        trichometry.analyze(image, um_per_px=3.5)
    assert hint in str(info.value)
    # The suggested conversion gives an array that is analysed.
    fixed = {
        "(a * 255).round().astype(np.uint8)": lambda a: (a * 255).round().astype(np.uint8),
        "a.astype(np.uint8)": lambda a: a.astype(np.uint8),
        "a[..., :3]": lambda a: a[..., :3],
        "a[..., 0]": lambda a: a[..., 0],
        "np.moveaxis(a, 0, -1)": lambda a: np.moveaxis(a, 0, -1)[..., :3],
    }[hint](image)
    assert trichometry.analyze(fixed, um_per_px=3.5).width_px == fixed.shape[1]


def test_empty_tables_keep_their_columns():
    # The default phantom has no hairs: the hair table has no rows but every
    # column, in the order of a table with rows.
    image, _ = trichometry.synth(width=200, height=150, um_per_px=3.5, seed=3)
    r = trichometry.analyze(image, um_per_px=3.5)
    assert r.hair_count == 0
    frame = r.hairs_frame()
    assert len(frame) == 0
    assert list(frame.columns) == list(trichometry._core.TABLE_COLUMNS["hairs"])
    assert {"diameter_um", "length_um", "class"} <= set(frame.columns)
    assert frame["diameter_um"].mean() != frame["diameter_um"].mean()  # NaN, no KeyError


def test_bad_colour_options(phantom):
    image, _ = phantom
    with pytest.raises(ValueError, match="only one colour reference"):
        trichometry.analyze(image, chart_corners=[0] * 8, colour_constancy="shades-of-gray")
    with pytest.raises(ValueError, match="chart_corners"):
        trichometry.analyze(image, chart_corners=[1, 2, 3])
    with pytest.raises(ValueError, match="chart_corners"):
        trichometry.analyze(image, chart=image)
    with pytest.raises(ValueError, match="colour_constancy"):
        trichometry.analyze(image, colour_constancy="grey-world")
    with pytest.raises(ValueError, match="reference_lightness"):
        trichometry.analyze(image, reference_rect=(0, 0, 10, 10), reference_lightness=float("nan"))
    with pytest.raises(ValueError, match="reference_rect"):
        trichometry.analyze(image, reference_rect=(0, 0, 10))
    # Fractional, negative or non-numeric rectangles are refused (1.5 was
    # rounded down to 1 without a word).
    for bad in [(1.5, 0, 10, 10), (0, -1, 10, 10), ("a", 0, 10, 10), 7]:
        with pytest.raises(ValueError, match="whole pixels"):
            trichometry.analyze(image, reference_rect=bad)
    with pytest.raises(ValueError, match="params"):
        trichometry.analyze(image, params="{not json")
    # A misspelt parameter is refused by name, not silently left at its default.
    with pytest.raises(ValueError, match="unknown field `min_lenght_um`"):
        trichometry.analyze(image, params={"hairs": {"min_lenght_um": 100.0}})
    with pytest.raises(ValueError, match="unknown field `hair`"):
        trichometry.analyze(image, params={"hair": {}})


def test_params_round_trip_into_provenance(phantom):
    image, _ = phantom
    r = trichometry.analyze(image, um_per_px=3.5)
    params = r.provenance["params"]
    r2 = trichometry.analyze(image, um_per_px=3.5, params=params)
    assert r2.provenance["params"] == params
    assert r2.summary() == r.summary()


def test_gil_is_released_during_analysis():
    image, _ = trichometry.synth(width=1600, height=1200, um_per_px=3.5, seed=2)
    t0 = time.perf_counter()
    trichometry.analyze(image, um_per_px=3.5)
    alone = time.perf_counter() - t0
    done = threading.Event()
    ticks = 0

    def work():
        trichometry.analyze(image, um_per_px=3.5)
        done.set()

    worker = threading.Thread(target=work)
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    elapsed = time.perf_counter() - start
    # With the GIL held for the whole call this loop could not run while the
    # core works; released, it ticks roughly once per millisecond throughout.
    assert alone > 0.02, f"the analysis is too quick ({alone:.3f} s) to tell"
    assert ticks >= 0.3 * elapsed / 0.0011, (ticks, elapsed)


def test_colour_reference_on_greyscale_is_refused(phantom):
    image, _ = phantom
    grey = image.mean(axis=2).astype(np.uint8)
    with pytest.raises(trichometry.ColourRequiredError):
        trichometry.analyze(grey, reference_rect=(0, 0, 10, 10))


def test_colour_options_reach_the_core(phantom):
    image, _ = phantom
    r = trichometry.analyze(image, um_per_px=3.5, colour_constancy="shades-of-gray")
    assert r.colour_calibration == "estimated" and "estimated_colour" in r.warnings
    r = trichometry.analyze(image, reference_rect=(10, 10, 40, 30), reference_lightness=60.0)
    assert r.colour_calibration == "reference_patch"
    assert r.provenance["colour_calibration"] == "reference_patch"
    card = np.full((20, 30, 3), 118, dtype=np.uint8)  # a grey card, as a separate image
    r = trichometry.analyze(image, reference=card)
    assert r.colour_calibration == "reference_patch"
    assert "uncalibrated_colour" not in r.warnings
