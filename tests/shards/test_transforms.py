"""Train/eval preprocessing and MixUp."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.shards.transforms import (
    as_unit_float,
    eval_transform,
    mix,
    mixup,
    mixup_lambda,
    random_window,
    seed_stream,
    train_transform,
)

SIDE = 8


def asymmetric_image() -> np.ndarray:
    """An image that differs from its mirror: a ramp from left to right."""
    ramp = np.tile(np.arange(SIDE, dtype="uint8")[None, :, None] * 30, (SIDE, 1, 3))
    return ramp


def transformed(n: int, seed: int, **flags) -> np.ndarray:
    """``n`` copies of the asymmetric image through the train transform, as the train
    step scales them."""
    examples = tf.data.Dataset.from_tensors(
        {"image": asymmetric_image(), "label": tf.constant(1, tf.int64)}
    ).repeat(n)
    transform = train_transform(flags.pop("crop", SIDE), 3, **flags)
    ds = tf.data.Dataset.zip((examples, seed_stream(seed))).map(transform)
    return np.stack([as_unit_float(image).numpy() for image, _ in ds])


def flipped_mask(images: np.ndarray) -> np.ndarray:
    original = asymmetric_image() / 255.0
    is_flipped = np.array([np.allclose(x, original[:, ::-1]) for x in images])
    is_original = np.array([np.allclose(x, original) for x in images])
    assert (is_flipped ^ is_original).all(), "every image is either kept or mirrored"
    return is_flipped


def test_flip_is_random_per_image():
    flips = flipped_mask(transformed(64, seed=1, random_crop=False, random_flip=True))
    assert 10 < flips.sum() < 54  # some mirrored, some not (the official flip mirrors all)


def test_flip_pattern_depends_on_seed_and_repeats_for_same_seed():
    a = flipped_mask(transformed(64, seed=1, random_crop=False, random_flip=True))
    b = flipped_mask(transformed(64, seed=2, random_crop=False, random_flip=True))
    again = flipped_mask(transformed(64, seed=1, random_crop=False, random_flip=True))
    assert (a != b).any()
    assert (a == again).all()


def test_no_flip_when_disabled():
    flips = flipped_mask(transformed(32, seed=1, random_crop=False, random_flip=False))
    assert not flips.any()


def test_random_crop_takes_windows_of_the_image():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (SIDE, SIDE, 3)).astype("uint8")
    examples = tf.data.Dataset.from_tensors(
        {"image": source, "label": tf.constant(0, tf.int64)}
    ).repeat(40)
    transform = train_transform(5, 3, random_crop=True, random_flip=False)
    crops = [x.numpy() for x, _ in tf.data.Dataset.zip((examples, seed_stream(3))).map(transform)]
    offsets = set()
    for crop in crops:
        assert crop.shape == (5, 5, 3) and crop.dtype == np.uint8  # scaled in the step
        found = [
            (y, x)
            for y in range(SIDE - 4)
            for x in range(SIDE - 4)
            if np.array_equal(crop, source[y : y + 5, x : x + 5])
        ]
        assert found, "a crop is a window of the source image"
        offsets.add(found[0])
    assert len(offsets) > 3


def test_random_window_reaches_every_offset_and_both_orientations():
    source = np.arange(6 * 7 * 1, dtype=np.int32).reshape(6, 7, 1)
    seen = set()
    for i in range(400):
        window = random_window(tf.constant(source), 4, tf.constant([i, 7]), mirror=True).numpy()
        assert window.shape == (4, 4, 1)
        flipped = window[:, ::-1]
        for y in range(3):
            for x in range(4):
                for mirrored, candidate in ((False, window), (True, flipped)):
                    if np.array_equal(candidate, source[y : y + 4, x : x + 4]):
                        seen.add((y, x, mirrored))
    assert seen == {(y, x, m) for y in range(3) for x in range(4) for m in (False, True)}


def test_random_window_is_stateless_in_its_seed():
    image = tf.constant(np.random.default_rng(0).integers(0, 255, (9, 9, 3), dtype=np.uint8))
    first = random_window(image, 5, tf.constant([3, 4]), mirror=True).numpy()
    again = random_window(image, 5, tf.constant([3, 4]), mirror=True).numpy()
    np.testing.assert_array_equal(first, again)


def test_random_window_of_the_whole_image_only_mirrors():
    image = tf.constant(asymmetric_image())
    for i in range(8):
        window = random_window(image, SIDE, tf.constant([i, 0]), mirror=False).numpy()
        np.testing.assert_array_equal(window, asymmetric_image())


def test_random_window_rejects_an_image_smaller_than_the_window():
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than 9x9"):
        random_window(tf.zeros([8, 12, 3], tf.uint8), 9, tf.constant([1, 2]), mirror=False)


def test_train_transform_resizes_without_crop_and_one_hot_encodes():
    image, label = train_transform(4, 5, random_crop=False, random_flip=False)(
        {
            "image": tf.fill([SIDE, SIDE, 3], tf.constant(255, tf.uint8)),
            "label": tf.constant(3, tf.int64),
        },
        tf.constant([1, 2], tf.int64),
    )
    assert image.shape == (4, 4, 3)
    np.testing.assert_allclose(image.numpy(), 1.0)
    np.testing.assert_array_equal(label.numpy(), [0, 0, 0, 1, 0])


def test_train_transform_keeps_pixels_of_images_already_at_crop_size():
    source = np.random.default_rng(3).integers(0, 256, (SIDE, SIDE, 3)).astype("uint8")
    image, _ = train_transform(SIDE, 2, random_crop=False, random_flip=False)(
        {"image": tf.constant(source), "label": tf.constant(1, tf.int64)},
        tf.constant([1, 2], tf.int64),
    )
    assert image.dtype == tf.uint8
    np.testing.assert_array_equal(image.numpy(), source)
    np.testing.assert_allclose(as_unit_float(image), source / 255.0, atol=1e-7)


def test_as_unit_float_scales_pixels_and_passes_floats_through():
    pixels = tf.constant([[0, 51, 255]], tf.uint8)
    np.testing.assert_allclose(as_unit_float(pixels), [[0.0, 0.2, 1.0]], atol=1e-7)
    floats = tf.constant([[0.25, 1.0]])
    assert as_unit_float(floats) is floats


def test_eval_transform_resizes_to_crop_and_scales_to_unit_range():
    source = tf.constant(np.full((SIDE, SIDE, 3), 51, "uint8"))
    image, label = eval_transform(6)({"image": source, "label": tf.constant(2, tf.int64)})
    assert image.shape == (6, 6, 3) and image.dtype == tf.float32
    np.testing.assert_allclose(image.numpy(), 0.2, atol=1e-6)
    assert int(label) == 2


def batch(n: int = 6, classes: int = 6) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((n, 4, 4, 3)), tf.float32)
    labels = tf.one_hot(np.arange(n) % classes, classes)
    return images, labels


def test_mix_blends_with_the_reversed_batch():
    images, labels = batch()
    lam = 0.3
    mixed_images, mixed_labels = mix(images, labels, lam)
    x, y = images.numpy(), labels.numpy()
    np.testing.assert_allclose(mixed_images.numpy(), x * lam + x[::-1] * (1 - lam), rtol=1e-6)
    np.testing.assert_allclose(mixed_labels.numpy(), y * lam + y[::-1] * (1 - lam), rtol=1e-6)
    # item 0 pairs with the last item
    np.testing.assert_allclose(mixed_labels.numpy()[0, [0, 5]], [lam, 1 - lam], rtol=1e-6)


def test_mix_scales_uint8_pixels_first():
    pixels = tf.constant([[[[255]]], [[[0]]]], tf.uint8)
    mixed, _ = mix(pixels, tf.eye(2), 0.75)
    assert mixed.dtype == tf.float32
    np.testing.assert_allclose(mixed.numpy().ravel(), [0.75, 0.25])


def test_alpha_zero_is_identity():
    images, labels = batch()
    out_images, out_labels = mixup(0.0)(images, labels, tf.constant([1, 2], tf.int64))
    assert out_images is images and out_labels is labels


def test_mixup_uses_one_beta_draw_per_batch():
    images, labels = batch()
    seed = tf.constant([7, 11], tf.int64)
    mixed_images, mixed_labels = mixup(0.1)(images, labels, seed)
    lam = float(mixed_labels.numpy()[0, 0])  # label 0's weight in item 0 is lambda
    assert 0.0 <= lam <= 1.0
    assert lam == pytest.approx(float(mixup_lambda(0.1, seed)))
    expected_images, expected_labels = mix(images, labels, lam)
    np.testing.assert_allclose(mixed_images.numpy(), expected_images.numpy(), atol=1e-6)
    np.testing.assert_allclose(mixed_labels.numpy(), expected_labels.numpy(), atol=1e-6)


def test_mixup_lambda_follows_a_u_shaped_beta():
    draws = np.array([float(mixup_lambda(0.1, tf.constant([s, 0], tf.int64))) for s in range(200)])
    assert ((draws >= 0) & (draws <= 1)).all()
    assert len(np.unique(draws)) > 150  # a fresh draw per seed
    assert ((draws < 0.1) | (draws > 0.9)).mean() > 0.6  # Beta(0.1, 0.1) hugs 0 and 1
    assert 0.35 < draws.mean() < 0.65
