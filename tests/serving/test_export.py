"""The serving module: any-size uint8 or float images in, probabilities and names out."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.serving.export import serving_module
from tests.training.tiny import CROP, tiny_model

NAMES = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = tiny_model()
    module = serving_module(model, CROP, NAMES)
    path = tmp_path_factory.mktemp("serving") / "model"
    tf.saved_model.save(module, str(path), signatures=module.serving_signatures())
    return model, tf.saved_model.load(str(path))


def images(height: int, width: int, count: int = 2) -> np.ndarray:
    rng = np.random.default_rng(height * width)
    return rng.integers(0, 256, (count, height, width, 3)).astype("uint8")


def expected_probabilities(model, pixels: np.ndarray) -> np.ndarray:
    resized = tf.image.resize(tf.cast(pixels, tf.float32) / 255.0, [CROP, CROP])
    return tf.nn.softmax(model(resized)).numpy()


@pytest.mark.parametrize(("height", "width"), [(CROP, CROP), (5, 31), (40, 17)])
def test_uint8_signature_accepts_any_size(saved, height, width):
    model, loaded = saved
    pixels = images(height, width)
    out = loaded.signatures["serve"](images=tf.constant(pixels))
    np.testing.assert_allclose(
        out["probabilities"].numpy(), expected_probabilities(model, pixels), atol=1e-5
    )
    labels = out["label"].numpy()
    np.testing.assert_array_equal(labels, out["probabilities"].numpy().argmax(-1))
    assert [n.decode() for n in out["label_name"].numpy()] == [NAMES[i] for i in labels]


def test_float_signature_matches_uint8(saved):
    _, loaded = saved
    pixels = images(20, 24, count=3)
    as_uint8 = loaded.signatures["serve"](images=tf.constant(pixels))
    as_float = loaded.signatures["serve_float"](images=tf.constant(pixels / 255.0, tf.float32))
    np.testing.assert_allclose(
        as_uint8["probabilities"].numpy(), as_float["probabilities"].numpy(), atol=1e-6
    )


def test_default_signature_and_direct_call(saved):
    _, loaded = saved
    assert set(loaded.signatures) == {"serving_default", "serve", "serve_float"}
    out = loaded.serve(tf.constant(images(9, 9)))
    assert out["probabilities"].shape == (2, len(NAMES))


def test_label_names_must_match_the_outputs():
    with pytest.raises(ValueError, match="label_map: 2 names for a classifier with 3 outputs"):
        serving_module(tiny_model(), CROP, ["a", "b"])
