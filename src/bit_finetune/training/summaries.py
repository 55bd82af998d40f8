"""TensorBoard summaries written with TensorFlow alone.

``tf.summary.scalar``/``image`` need the ``tensorboard`` package installed just to write;
these write the same records with core TensorFlow, so logs are produced everywhere and
the ``tensorboard`` package is only needed to view them.
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _plugin(name: str) -> summary_pb2.SummaryMetadata:
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=name)
    )


SCALARS = _plugin("scalars")
IMAGES = _plugin("images")


def scalar(name: str, value: float, step: int) -> None:
    """One point of the scalar curve ``name``."""
    tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=SCALARS)


def image(name: str, pixels: tf.Tensor, step: int) -> None:
    """One image ``[H, W, C]`` with values in [0, 1], stored as PNG."""
    encoded = tf.io.encode_png(tf.image.convert_image_dtype(pixels, tf.uint8, saturate=True))
    height, width = pixels.shape[0], pixels.shape[1]
    record = tf.stack([tf.as_string(width), tf.as_string(height), encoded])
    tf.summary.write(name, record, step=step, metadata=IMAGES)
