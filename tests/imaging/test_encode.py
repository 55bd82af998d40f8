"""Image conversion for the shards: EXIF orientation, odd modes, bad data."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bit_finetune.data.source import ReadResult
from bit_finetune.imaging.encode import encode, encode_reads

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def saved(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGB"
        return np.asarray(image).astype(int)


def test_exif_orientation_is_applied():
    stored = Image.new("RGB", (40, 20), RED)
    stored.paste(BLUE, (20, 0, 40, 20))  # left red, right blue as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    result = encode(saved(stored, "JPEG", exif=exif, quality=95), size=16, encoding="png")
    assert (result.width, result.height) == (20, 40)  # the upright size
    pixels = decoded(result.data)
    assert pixels.shape == (16, 16, 3)
    np.testing.assert_allclose(pixels[:6].mean(axis=(0, 1)), RED, atol=12)  # red on top
    np.testing.assert_allclose(pixels[-6:].mean(axis=(0, 1)), BLUE, atol=12)


def _palette_with_transparency() -> bytes:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 4, 8))
    return saved(image, "PNG", transparency=0)  # left blue, right transparent


def _rgba() -> bytes:
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 4, 8))
    return saved(image, "PNG")


def _grey_alpha() -> bytes:
    return saved(Image.new("LA", (8, 8), (100, 255)), "PNG")


def _cmyk() -> bytes:
    return saved(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "TIFF")


def _sixteen_bit() -> bytes:
    values = np.full((8, 8), 65535, dtype=np.uint16)
    values[:, 4:] = 32896  # 128 * 257
    return saved(Image.fromarray(values), "PNG")


def _bilevel() -> bytes:
    return saved(Image.new("1", (8, 8), 1), "PNG")


@pytest.mark.parametrize(
    ("make", "left", "right"),
    [
        (_palette_with_transparency, BLUE, WHITE),
        (_rgba, BLUE, WHITE),
        (_grey_alpha, (100,) * 3, (100,) * 3),
        (_cmyk, RED, RED),
        (_sixteen_bit, WHITE, (128,) * 3),
        (_bilevel, WHITE, WHITE),
    ],
)
def test_odd_modes_become_rgb(make, left, right):
    pixels = decoded(encode(make(), size=8, encoding="png").data)
    np.testing.assert_allclose(pixels[:, 0], [left] * 8, atol=1)
    np.testing.assert_allclose(pixels[:, -1], [right] * 8, atol=1)


def test_jpeg_output_and_resize():
    result = encode(saved(Image.new("RGB", (50, 30), RED), "PNG"), size=24, quality=90)
    assert result.format == "jpeg" and (result.width, result.height) == (50, 30)
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.format == "JPEG" and image.size == (24, 24)


def test_bad_data_is_reported_not_raised():
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    jpeg = saved(Image.fromarray(noise), "JPEG")
    reads = [
        ReadResult("a", jpeg),
        ReadResult("b", jpeg[: len(jpeg) // 2]),
        ReadResult("c", None, "permission denied"),
        ReadResult("d", b"not an image"),
    ]
    results = dict(encode_reads(reads, size=16))
    assert list(results) == ["a", "b", "c", "d"]
    assert results["a"].width == 64
    assert "truncated" in results["b"]
    assert results["c"] == "unreadable: permission denied"
    assert "UnidentifiedImageError" in results["d"]
