"""The step's graph functions: gradients, their accumulation, the update, one/many."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from bit_finetune.training import steps

CLASSES, BATCH = 3, 8


def small_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(CLASSES)]
    )


def batch(seed: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.integers(0, 256, (BATCH, 4, 4, 3), dtype=np.uint8))
    return images, tf.one_hot(rng.integers(0, CLASSES, BATCH), CLASSES)


def test_gradients_are_of_the_global_batch_mean_loss_and_count_hits():
    model = small_model()
    optimizer = keras.optimizers.SGD(0.1)
    images, labels = batch()
    grads, loss, hits = steps.gradient_function(model, optimizer, 2 * BATCH, jit=False)(
        images, labels
    )
    logits = model(tf.cast(images, tf.float32) / 255.0)
    expected = keras.losses.categorical_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(float(loss), float(tf.reduce_sum(expected)) / (2 * BATCH), rtol=1e-5)
    right = np.argmax(logits, -1) == np.argmax(labels, -1)
    assert float(hits) == right.sum()
    assert [g.shape for g in grads] == [v.shape for v in model.trainable_variables]


def test_accumulated_gradients_equal_the_whole_batch_ones():
    model = small_model()
    gradients = steps.gradient_function(model, keras.optimizers.SGD(0.1), BATCH, jit=False)
    images, labels = batch()
    whole = gradients(images, labels)
    parts = tf.function(steps.accumulated(gradients, model.trainable_variables, 4))(images, labels)
    assert steps.accumulated(gradients, model.trainable_variables, 1) is gradients
    for a, b in zip(whole[0], parts[0]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(float(whole[1]), float(parts[1]), rtol=1e-5)
    assert float(whole[2]) == float(parts[2])


def test_many_runs_n_updates_in_one_call_and_counts_them():
    model = small_model()
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)
    variables = model.trainable_variables
    update = steps.update_function(
        steps.gradient_function(model, optimizer, BATCH, jit=False), optimizer, variables
    )
    step = tf.Variable(0, dtype=tf.int64)
    strategy = tf.distribute.get_strategy()
    data = tf.data.Dataset.from_tensors(batch()).repeat()
    one, many = steps.train_functions(strategy, update, step, data.element_spec)
    iterator = iter(data)
    before = [v.numpy().copy() for v in variables]
    first_loss, _ = one(next(iterator))
    losses, hits = many(iterator, tf.constant(3, tf.int64))
    assert int(step.numpy()) == 4
    assert not np.allclose(before[0], variables[0].numpy())
    assert 0 <= float(hits) <= 3 * BATCH
    assert float(losses) < 3 * float(first_loss)  # the same batch, three SGD steps on
