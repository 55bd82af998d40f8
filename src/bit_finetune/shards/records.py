"""The record schema of a shard set: the features of a record, encoded without
TensorFlow by the writer and parsed with it by the readers; and what the preprocessing
stage hands to :func:`~bit_finetune.shards.shard_set.write_shard_set`
(serialized records and skip markers).

Records are encoded here without TensorFlow (the ``Example`` wire format is three
nested length-prefixed messages), so the preprocessing node does not import it; the
bytes equal ``tf.train.Example.SerializeToString(deterministic=True)``. Parsing imports
TensorFlow when it runs, not with this module (see :mod:`bit_finetune.startup`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

FEATURE_TYPES = {
    "image": "string",
    "format": "string",
    "label": "int64",
    "id": "string",
    "height": "int64",
    "width": "int64",
}
"""The features of every record and their dtype (one value each); ``height``/``width``
are the original image's size. :func:`record_features` gives the parsing spec."""

FEATURE_DOCS = {
    "image": "bytes: the encoded square image (see 'encoding')",
    "format": "bytes: b'jpeg', b'png' or b'raw' (uint8 RGB, row-major, square)",
    "label": "int64: index into label_names",
    "id": "bytes: the example's id in the image index",
    "height": "int64: original height, upright",
    "width": "int64: original width, upright",
}
"""What each feature holds, as the manifest describes it."""

_LENGTH_DELIMITED = 2
_BYTES_LIST, _INT64_LIST = 1, 3
"""Field numbers of ``Feature.kind``."""


@dataclass(frozen=True)
class SkippedExample:
    """An example the writer could not include, and why; recorded in the manifest."""

    id: str
    reason: str


@dataclass
class ShardPayload:
    """What the preprocessing node returns for ``TFRecordShardsDataset`` to write.

    Attributes:
        splits: per split, a (lazy) iterable of serialized ``tf.train.Example`` bytes,
            interleaved with :class:`SkippedExample` markers for examples left out.
        expected: per split, how many examples the iterable yields at most; this plans
            the shard count before the first record arrives.
        metadata: JSON-serialisable facts for the manifest; must hold ``label_names``
            (list of str) and ``image_size`` (int, the stored square side).
        examples_per_shard: upper bound on examples per file.
    """

    splits: Mapping[str, Iterable[bytes | SkippedExample]]
    expected: Mapping[str, int]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    examples_per_shard: int = 1024


def make_example(
    image: bytes, fmt: str, label: int, example_id: str, width: int, height: int
) -> bytes:
    """Serialize one record (deterministically: same values, same bytes)."""
    return encode_example(
        {
            "image": image,
            "format": fmt.encode(),
            "label": int(label),
            "id": example_id.encode(),
            "height": int(height),
            "width": int(width),
        }
    )


def encode_example(features: Mapping[str, bytes | int]) -> bytes:
    """A ``tf.train.Example`` with one bytes or int64 value per feature, keys sorted."""
    entries = b"".join(
        _message(1, _message(1, key.encode()) + _message(2, _feature(value)))
        for key, value in sorted(features.items())
    )
    return _message(1, entries)  # Example.features = Features{feature: entries}


def _feature(value: bytes | int) -> bytes:
    if isinstance(value, bytes):
        return _message(_BYTES_LIST, _message(1, value))
    return _message(_INT64_LIST, _message(1, _varint(value)))  # packed repeated int64


def _message(number: int, payload: bytes) -> bytes:
    """A length-delimited field: key, length, payload."""
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    """Base-128 varint; negative int64 values as their 64-bit two's complement."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@cache
def record_features() -> dict[str, tf.io.FixedLenFeature]:
    """:data:`FEATURE_TYPES` as the spec of ``tf.io.parse_single_example``."""
    import tensorflow as tf

    return {key: tf.io.FixedLenFeature([], dtype) for key, dtype in FEATURE_TYPES.items()}


def parse_example(serialized: tf.Tensor, image_size: int | None = None) -> dict[str, tf.Tensor]:
    """Parse one record into ``{"image": uint8 [S, S, 3], "label": int64, "id": string}``.

    With ``image_size`` the image gets the static shape ``[S, S, 3]`` (checked at run
    time); without it the height and width are left unknown.
    """
    import tensorflow as tf

    features = tf.io.parse_single_example(serialized, record_features())
    image = tf.cond(
        tf.equal(features["format"], "raw"),
        lambda: _raw_square(features["image"]),
        lambda: tf.io.decode_image(features["image"], channels=3, expand_animations=False),
    )
    if image_size is not None:
        image = tf.ensure_shape(image, [image_size, image_size, 3])
    return {"image": image, "label": features["label"], "id": features["id"]}


def _raw_square(data: tf.Tensor) -> tf.Tensor:
    """Raw uint8 RGB bytes of a square image as ``[S, S, 3]`` (the side from the length)."""
    import tensorflow as tf

    pixels = tf.io.decode_raw(data, tf.uint8)
    side = tf.cast(tf.round(tf.sqrt(tf.cast(tf.size(pixels) // 3, tf.float64))), tf.int32)
    return tf.reshape(pixels, [side, side, 3])
