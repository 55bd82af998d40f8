"""Train/eval preprocessing of parsed shard examples, and batch-level MixUp.

Randomness is stateless: every example and every batch is paired with its own seed
(a ``[2]`` integer tensor, see :func:`seed_stream`), so augmentation is truly random
across examples yet reproducible for a given run seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

Example = dict[str, tf.Tensor]


def seed_stream(seed: int) -> tf.data.Dataset:
    """An endless dataset of stateless-op seeds (``int64 [2]``) derived from ``seed``."""
    return tf.data.Dataset.random(seed=seed).batch(2)


def to_unit_float(image: tf.Tensor) -> tf.Tensor:
    """uint8 pixels (or floats on the 0..255 scale) -> float32 in [0, 1]."""
    return tf.cast(image, tf.float32) / 255.0


def as_unit_float(images: tf.Tensor) -> tf.Tensor:
    """Images as float32 in [0, 1]: uint8 pixels are scaled, float images pass as they are."""
    return to_unit_float(images) if images.dtype == tf.uint8 else images


def resize_to(image: tf.Tensor, size: int) -> tf.Tensor:
    """Square bilinear resize, aspect ignored as in BiT; float32 on the input's scale."""
    return tf.image.resize(image, [size, size])


def random_window(image: tf.Tensor, size: int, seed: tf.Tensor, *, mirror: bool) -> tf.Tensor:
    """A uniformly placed ``size`` x ``size`` window of ``image`` ``[H, W, C]``, mirrored
    left-right with probability 1/2 when ``mirror``; stateless in ``seed``.

    One draw of three integers and one slice (plus the mirror's reverse, when drawn):
    fewer ops per example than a random crop followed by a random flip, each with its
    own draws and checks. A window the size of the image is the image itself.
    """
    shape = tf.shape(image)
    limits = tf.stack([shape[0] - size + 1, shape[1] - size + 1, 2])
    checked = tf.debugging.assert_positive(
        limits, message=f"random_window: the image is smaller than {size}x{size}"
    )
    with tf.control_dependencies([checked]):
        draws = tf.random.stateless_uniform([3], seed, minval=None, maxval=None, dtype=tf.int32)
    y, x, flip = tf.unstack(tf.math.floormod(draws, limits))
    window = image[y : y + size, x : x + size]
    if not mirror:
        return window
    return tf.cond(tf.equal(flip, 1), lambda: tf.reverse(window, [1]), lambda: window)


def train_transform(
    crop_size: int, num_classes: int, *, random_crop: bool, random_flip: bool
) -> Callable[[Example, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """``(example, seed) -> (image [crop, crop, 3], one-hot label)``.

    The example's image is uint8 ``[S, S, 3]`` at the HyperRule resize size. With
    ``random_crop`` a random ``crop_size`` square is cut, otherwise the image is resized
    to ``crop_size`` (and left as it is when it has that size already); with
    ``random_flip`` each image is mirrored left-right with probability 1/2 (both in one
    :func:`random_window`).

    Cut or untouched images stay uint8 pixels: a quarter of the bytes of float32 to
    batch and to copy to the accelerator, where :func:`as_unit_float` scales them inside
    the train step. Resized images are float32 in [0, 1].
    """

    def transform(example: Example, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = example["image"]
        if not random_crop and tuple(image.shape[:2]) != (crop_size, crop_size):
            image = to_unit_float(resize_to(image, crop_size))
        if random_crop or random_flip:
            image = random_window(image, crop_size, seed, mirror=random_flip)
        label = tf.one_hot(example["label"], num_classes, dtype=tf.float32)
        return image, label

    return transform


def feature_transform(
    num_classes: int,
) -> Callable[[Example, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """``(example, seed) -> (feature vector, one-hot label)``: features pass as they are."""

    def transform(example: Example, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return example["image"], tf.one_hot(example["label"], num_classes, dtype=tf.float32)

    return transform


def eval_transform(crop_size: int) -> Callable[[Example], tuple[tf.Tensor, tf.Tensor]]:
    """``example -> (image float32 [crop, crop, 3] in [0, 1], int label)``: resize only."""

    def transform(example: Example) -> tuple[tf.Tensor, tf.Tensor]:
        return to_unit_float(resize_to(example["image"], crop_size)), example["label"]

    return transform


def mix(images: tf.Tensor, labels: tf.Tensor, lam: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """Blend each item with the batch reversed along axis 0 (item 0 with item B-1); the
    mixed images are float32 in [0, 1]."""
    images = as_unit_float(images)
    lam = tf.cast(lam, images.dtype)
    mixed_images = lam * images + (1.0 - lam) * tf.reverse(images, axis=[0])
    lam = tf.cast(lam, labels.dtype)
    mixed_labels = lam * labels + (1.0 - lam) * tf.reverse(labels, axis=[0])
    return mixed_images, mixed_labels


def mixup_lambda(alpha: float, seed: tf.Tensor) -> tf.Tensor:
    """One draw from Beta(alpha, alpha), stateless in ``seed``."""
    import tensorflow_probability as tfp  # heavy import, only when MixUp is on

    return tfp.distributions.Beta(
        tf.constant(alpha, tf.float32), tf.constant(alpha, tf.float32)
    ).sample(seed=tf.cast(seed, tf.int32))  # tfp wants int32 stateless seeds


def mixup(
    alpha: float,
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """``(images, one_hot_labels, seed) -> mixed batch``; identity when ``alpha == 0``."""

    def apply(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        if alpha == 0:
            return images, labels
        return mix(images, labels, mixup_lambda(alpha, seed))

    return apply
