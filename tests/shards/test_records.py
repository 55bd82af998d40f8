"""The record schema: records encoded without TensorFlow are the bytes TensorFlow's own
serializer makes, and parse back to what was written."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.shards.records import make_example, parse_example


def tensorflow_example(image: bytes, fmt: str, label: int, example_id: str, width: int,
                       height: int) -> bytes:
    def ints(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def raw(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    features = {"image": raw(image), "format": raw(fmt.encode()), "label": ints(label),
                "id": raw(example_id.encode()), "height": ints(height), "width": ints(width)}
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    "values",
    [
        (b"", "jpeg", 0, "", 0, 0),
        (bytes(range(256)) * 3, "png", 7, "cats/0001.jpg", 500, 375),
        (b"\x00" * 200_000, "raw", 127, "long " * 40, 2**31, 1),  # multi-byte lengths
        (b"x", "jpeg", -3, "ünïcode", 2**62, 128),  # negative: 10-byte two's complement
    ],
)
def test_bytes_equal_tensorflows_deterministic_serialization(values):
    assert make_example(*values) == tensorflow_example(*values)


def test_a_raw_record_parses_back_to_its_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    record = make_example(pixels.tobytes(), "raw", 4, "id-1", 9, 5)
    parsed = parse_example(tf.constant(record), image_size=6)
    np.testing.assert_array_equal(parsed["image"].numpy(), pixels)
    assert int(parsed["label"]) == 4 and parsed["id"].numpy() == b"id-1"
