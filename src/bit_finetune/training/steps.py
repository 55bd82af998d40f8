"""The graph side of a training step: a (micro-)batch's gradients, their sum over
micro-batches (gradient accumulation, :mod:`.micro_batch`), the SGD update, and the
``tf.function``s that run one step or several per call on every replica of a strategy.

Images arrive as uint8 and become floats inside the step, so that an accelerator is sent
a quarter of the bytes; the loss is float32 whatever the dtype policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from bit_finetune.shards.transforms import as_unit_float

Gradients = Callable[[tf.Tensor, tf.Tensor], tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]]
"""``(images, labels) -> (gradients, loss share, correct predictions)``."""
Update = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]
"""``(images, labels) -> (loss share, correct predictions)``, the variables updated."""


def gradient_function(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, global_batch: int, jit: bool
) -> Gradients:
    """The gradients of a (micro-)batch's share of the ``global_batch`` mean loss, that
    share and its number of correct predictions (XLA-compiled when ``jit``)."""
    variables = model.trainable_variables
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    @tf.function(jit_compile=jit)
    def gradients(images: tf.Tensor, labels: tf.Tensor):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(as_unit_float(images), training=True), tf.float32)
            per_example = tf.nn.softmax_cross_entropy_with_logits(labels, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            objective = optimizer.scale_loss(loss) if loss_scaled else loss
        hits = tf.cast(tf.argmax(logits, -1) == tf.argmax(labels, -1), tf.float32)
        return tape.gradient(objective, variables), loss, tf.reduce_sum(hits)

    return gradients


def accumulated(gradients: Gradients, variables: list[Any], parts: int) -> Gradients:
    """``gradients`` of a replica's batch summed over ``parts`` equal micro-batches
    (``gradients`` itself when ``parts`` is 1)."""
    if parts == 1:
        return gradients

    def summed(images: tf.Tensor, labels: tf.Tensor):
        images, labels = (
            tf.reshape(t, tf.concat([[parts, tf.shape(t)[0] // parts], tf.shape(t)[1:]], 0))
            for t in (images, labels)
        )

        def add(i, grads, loss, correct):
            g, l, c = gradients(images[i], labels[i])
            return i + 1, [a + b for a, b in zip(grads, g)], loss + l, correct + c

        zeros = [tf.zeros_like(v) for v in variables]
        _, grads, loss, correct = tf.while_loop(
            lambda i, *_: i < parts, add, (tf.constant(0), zeros, 0.0, 0.0)
        )
        return grads, loss, correct

    return summed


def update_function(
    gradients: Gradients, optimizer: keras.optimizers.Optimizer, variables: list[Any]
) -> Update:
    """One SGD update of ``variables`` from ``gradients`` of a replica's batch."""

    def update(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        grads, loss, correct = gradients(images, labels)
        optimizer.apply_gradients(zip(grads, variables))
        return loss, correct

    return update


def train_functions(
    strategy: tf.distribute.Strategy, update: Update, step: tf.Variable, element_spec: Any
) -> tuple[Callable, Callable]:
    """Two ``tf.function``s running ``update`` on every replica and counting ``step``:
    ``one(batch)`` runs one step on a given batch, ``many(iterator, n)`` runs ``n`` steps
    in one graph call (no Python round trip between them). Both return the global loss
    and the number of correct predictions, summed over their steps."""
    total = tf.distribute.ReduceOp.SUM

    def run(batch: Any) -> tuple[tf.Tensor, tf.Tensor]:
        loss, correct = strategy.run(update, args=batch)
        step.assign_add(1)
        return strategy.reduce(total, loss, None), strategy.reduce(total, correct, None)

    @tf.function(input_signature=[element_spec])
    def one(batch: Any) -> tuple[tf.Tensor, tf.Tensor]:
        return run(batch)

    @tf.function
    def many(iterator: Any, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loss_sum, correct_sum = tf.constant(0.0), tf.constant(0.0)
        for _ in tf.range(n):
            loss, correct = run(next(iterator))
            loss_sum, correct_sum = loss_sum + loss, correct_sum + correct
        return loss_sum, correct_sum

    return one, many
