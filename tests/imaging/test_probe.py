"""The image probe on the broken and unusual image corpus."""

from __future__ import annotations

import hashlib

import pytest
from PIL import ImageFile

from bit_finetune.data.source import ReadResult
from bit_finetune.imaging import MAX_PIXELS, probe, probe_reads
from tests.bad_images import HEADER_ONLY_PASSES, png_with_declared_size, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    expected = write_corpus(folder)
    data = {}
    for name in expected:
        try:
            data[name] = (folder / name).read_bytes()
        except PermissionError:
            continue
    return expected, data


def test_verified_probe_tells_every_good_file_from_every_bad_one(corpus):
    expected, data = corpus
    for name, payload in data.items():
        result = probe(payload, verify=True)
        assert result.decodable is expected[name], (name, result)
        assert (result.error is None) is expected[name], (name, result)


def test_header_probe_misses_only_the_truncated_files(corpus):
    expected, data = corpus
    passed = {name for name, payload in data.items() if probe(payload).decodable}
    good = {name for name, ok in expected.items() if ok and name in data}
    assert passed == good | HEADER_ONLY_PASSES


@pytest.mark.parametrize(
    ("name", "mode", "channels", "fmt"),
    [
        ("grayscale.png", "L", 1, "PNG"),
        ("rgba.png", "RGBA", 4, "PNG"),
        ("cmyk.jpg", "CMYK", 4, "JPEG"),
        ("palette.png", "P", 1, "PNG"),
        ("grey16.png", "I;16", 1, "PNG"),
        ("png_named.jpg", "RGB", 3, "PNG"),
        ("animated.gif", "P", 1, "GIF"),
        ("image.webp", "RGB", 3, "WEBP"),
        ("image.bmp", "RGB", 3, "BMP"),
    ],
)
def test_probe_reports_mode_channels_and_format_from_content(corpus, name, mode, channels, fmt):
    result = probe(corpus[1][name], verify=True)
    assert (result.mode, result.channels, result.format) == (mode, channels, fmt)
    assert result.width > 0 and result.height > 0


def test_exif_orientation_is_reported_with_the_stored_size(corpus):
    rotated = probe(corpus[1]["rotated.jpg"])
    assert rotated.orientation == 6
    assert (rotated.width, rotated.height) == (32, 24)
    assert probe(corpus[1]["good.jpg"]).orientation == 1


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("empty.jpg", "empty file"),
        ("text.jpg", "not an image"),
        ("bomb.png", "too many pixels"),
        ("truncated.jpg", "truncated"),
        ("truncated.png", "truncated"),
    ],
)
def test_bad_files_get_a_short_reason(corpus, name, error):
    result = probe(corpus[1][name], verify=True)
    assert not result.decodable
    assert error in result.error and len(result.error) <= 160


def test_images_over_the_pixel_limit_are_refused_but_sized():
    width, height = 12_000, MAX_PIXELS // 12_000 + 1
    result = probe(png_with_declared_size(width, height))
    assert (result.width, result.height, result.decodable) == (width, height, False)
    assert result.error.startswith("too many pixels")
    assert probe(png_with_declared_size(100, 100), verify=False).decodable


def test_sha1_and_size_describe_the_file_bytes(corpus):
    payload = corpus[1]["good.jpg"]
    result = probe(payload)
    assert result.sha1 == hashlib.sha1(payload).hexdigest()
    assert result.bytes == len(payload)


@pytest.mark.parametrize("payload", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", bytes(range(256)) * 3])
def test_probe_never_raises_on_garbage(payload):
    assert not probe(payload, verify=True).decodable


def test_truncated_images_are_not_silently_loaded():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_probe_reads_reports_read_errors_in_order():
    reads = [ReadResult("a", None, "PermissionError: denied"), ReadResult("b", b"")]
    results = list(probe_reads(reads))
    assert [uri for uri, _ in results] == ["a", "b"]
    assert results[0][1].error == "unreadable: PermissionError: denied"
    assert results[0][1].sha1 is None and results[1][1].error == "empty file"
