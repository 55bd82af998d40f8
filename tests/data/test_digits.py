"""The embedded digits source."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from bit_finetune.data.digits import DigitsSource, checked_labels
from bit_finetune.data.source import ImageSource
from bit_finetune.errors import ConfigError


@pytest.fixture(scope="module")
def source() -> ImageSource:
    return DigitsSource()


def test_scan_lists_every_digit_with_its_label(source: ImageSource):
    items = list(source.scan())
    targets = load_digits().target
    assert len(items) == len(targets) == 1797
    assert items[42].id == "digits/0042" and items[42].uri == "digits:0042"
    assert [item.label_name for item in items] == [str(t) for t in targets]
    assert {item.split for item in items} == {None}
    assert len({item.id for item in items}) == len(items)
    assert source.label_names == [str(d) for d in range(10)]


def test_read_encodes_grayscale_png_scaled_to_255(source: ImageSource):
    (result,) = source.read(["digits:0007"])
    assert result.error is None and result.data.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(result.data))
    assert (image.mode, image.size) == ("L", (8, 8))
    expected = np.rint(load_digits().images[7] * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(image), expected)


def test_read_reports_bad_uris_one_result_each(source: ImageSource):
    uris = ["digits:1796", "digits:1797", "digits/0001", "digits:0001"]
    results = list(source.read(uris))
    assert [r.uri for r in results] == uris
    assert [r.error is None for r in results] == [True, False, False, True]
    assert results[1].data is None and "digits:1796" in results[1].error


def test_labels_keep_a_class_subset_in_the_given_order():
    targets = load_digits().target
    source = DigitsSource([7, 5, 6])
    items = list(source.scan())
    assert source.label_names == ["7", "5", "6"]
    assert len(items) == int(np.isin(targets, [5, 6, 7]).sum())
    assert {item.label_name for item in items} == {"5", "6", "7"}
    assert all(str(targets[int(item.uri.removeprefix("digits:"))]) == item.label_name
               for item in items)
    assert source.describe()["classes"] == 3 and source.describe()["images"] == len(items)


@pytest.mark.parametrize("labels", [[3], [1, 1], [0, 10], ["0", "1"], "01", [1.0, 2.0]])
def test_bad_labels_fail_naming_the_key(labels):
    with pytest.raises(ConfigError, match=r"labels: .* at least two different digits from 0"):
        checked_labels(labels)
