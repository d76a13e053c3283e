import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import trichometry


def _png(path: Path, w: int, h: int, colour_type: int, bit_depth: int, raw: bytes) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def test_load_jpeg_is_rgb_uint8_handed_over_without_copy(testdata):
    img = trichometry.load(testdata / "example.jpg")
    assert img.shape == (480, 640, 3)
    assert img.dtype == np.uint8
    # The buffer belongs to Rust (no copy into a numpy-owned buffer).
    assert not img.flags.owndata
    assert img.flags.c_contiguous


def test_load_greyscale_keeps_one_channel(testdata):
    img = trichometry.load(str(testdata / "bad" / "grey.png"))
    assert img.shape == (24, 32)
    assert img.dtype == np.uint8
    expect = np.array([[(x * 8 + y) % 256 for x in range(32)] for y in range(24)], dtype=np.uint8)
    np.testing.assert_array_equal(img, expect)


def test_load_16_bit_png_exactly(tmp_path):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 65536, size=(4, 5, 3), dtype=np.uint16)
    raw = b"".join(b"\0" + data[y].astype(">u2").tobytes() for y in range(4))
    _png(tmp_path / "d16.png", 5, 4, 2, 16, raw)
    img = trichometry.load(tmp_path / "d16.png")
    assert img.dtype == np.uint16
    np.testing.assert_array_equal(img, data)


def test_load_drops_alpha(tmp_path):
    rgba = np.arange(3 * 2 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = b"".join(b"\0" + rgba[y].tobytes() for y in range(2))
    _png(tmp_path / "a.png", 3, 2, 6, 8, raw)
    img = trichometry.load(tmp_path / "a.png")
    np.testing.assert_array_equal(img, rgba[:, :, :3])
    result = trichometry.analyze(tmp_path / "a.png")
    assert "alpha_dropped" in result.warnings


@pytest.mark.parametrize(
    ("name", "exc"),
    [
        ("empty.jpg", trichometry.DecodeError),
        ("truncated.jpg", trichometry.DecodeError),
        ("corrupt.png", trichometry.DecodeError),
        ("zero_width.png", trichometry.DecodeError),
        ("not_an_image.jpg", trichometry.UnsupportedImageError),
        ("bomb_100000x100000.png", trichometry.ImageLimitsError),
    ],
)
def test_bad_files_raise_typed_errors(testdata, name, exc):
    for call in (trichometry.load, lambda p: trichometry.analyze(p, um_per_px=3.5)):
        with pytest.raises(exc) as info:
            call(testdata / "bad" / name)
        assert isinstance(info.value, trichometry.TrichometryError)
        assert isinstance(info.value, ValueError)
        assert str(info.value)


def test_missing_file_is_file_not_found(tmp_path):
    missing = tmp_path / "nope.jpg"
    for call in (trichometry.load, trichometry.analyze):
        with pytest.raises(FileNotFoundError) as info:
            call(missing)
        assert info.value.filename == str(missing)


def test_a_folder_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        trichometry.load(tmp_path)


def test_load_refuses_non_paths():
    with pytest.raises(TypeError):
        trichometry.load(3)
