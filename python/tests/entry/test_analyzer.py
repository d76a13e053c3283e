"""trichometry.Analyzer: working memory kept between calls, the same results."""

import pickle
import threading

import numpy as np
import pytest

import trichometry
from trichometry._result import _MAPS

SCENE = {"hairs": {}, "vessels": {}}


@pytest.fixture(scope="module")
def images():
    # Two sizes and two scales, with hair (the stage whose memory is kept).
    a, _ = trichometry.synth(width=480, height=360, um_per_px=3.5, seed=21, spec=SCENE)
    b, _ = trichometry.synth(width=640, height=400, um_per_px=2.0, seed=22, spec=SCENE)
    return [(a, 3.5), (b, 2.0)]


def assert_same(r, s):
    """Bit-identical results: the record, the tables and every map."""
    assert r.to_dict() == s.to_dict()
    for name in _MAPS:
        m, n = getattr(r, name), getattr(s, name)
        if m is None:
            assert n is None, name
            continue
        assert m.dtype == n.dtype and m.shape == n.shape, name
        assert m.tobytes() == n.tobytes(), name


def test_analyzer_gives_analyze_bit_for_bit(images):
    analyzer = trichometry.Analyzer()
    assert analyzer.resident_bytes == 0
    # Twice round, so that the second pass runs in buffers that hold the
    # other image's pixels.
    for image, um in images + images:
        kept = analyzer.analyze(image, um_per_px=um)
        plain = trichometry.analyze(image, um_per_px=um)
        assert kept.hair_count > 0  # the hair stage ran in the kept memory
        assert_same(kept, plain)
        assert analyzer.resident_bytes > 0
    analyzer.clear()
    assert analyzer.resident_bytes == 0


def test_bad_input_raises_the_typed_error_and_the_analyzer_still_works(images, tmp_path):
    analyzer = trichometry.Analyzer()
    (image, um), (other, other_um) = images
    first = analyzer.analyze(image, um_per_px=um)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x5a" * 300)
    with pytest.raises(trichometry.DecodeError):
        analyzer.analyze(corrupt, um_per_px=um)
    with pytest.raises(ValueError, match="um_per_px"):
        analyzer.analyze(image, um_per_px=-1.0)
    # A parameter the follicle stage rejects, after the hair stage ran in
    # the kept memory.
    with pytest.raises(ValueError, match="unit_radius_um"):
        analyzer.analyze(other, um_per_px=other_um, params={"follicles": {"unit_radius_um": -1}})
    with pytest.raises(ValueError):
        analyzer.analyze(image.astype(np.float32), um_per_px=um)
    assert_same(analyzer.analyze(other, um_per_px=other_um), trichometry.analyze(other, um_per_px=other_um))
    assert_same(analyzer.analyze(image, um_per_px=um), first)


def test_threads_sharing_one_analyzer(images):
    analyzer = trichometry.Analyzer()
    plain = [trichometry.analyze(im, um_per_px=um) for im, um in images]
    results = {}
    errors = []

    def work(t):
        try:
            for k in range(2):
                i = (t + k) % 2
                image, um = images[i]
                results[(t, k)] = (i, analyzer.analyze(image, um_per_px=um))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(results) == 4
    for i, r in results.values():
        assert_same(r, plain[i])


def test_pickle_gives_an_empty_analyzer(images):
    analyzer = trichometry.Analyzer()
    image, um = images[0]
    analyzer.analyze(image, um_per_px=um)
    copy = pickle.loads(pickle.dumps(analyzer))
    assert isinstance(copy, trichometry.Analyzer)
    assert copy.resident_bytes == 0 and analyzer.resident_bytes > 0
    assert "MB held" in repr(analyzer)
    assert_same(copy.analyze(image, um_per_px=um), analyzer.analyze(image, um_per_px=um))
