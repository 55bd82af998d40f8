"""The BiT-HyperRule learning-rate schedule as a serializable Keras schedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from bit_finetune.hyperrule import HyperRule


@keras.saving.register_keras_serializable(package="bit_finetune")
class HyperRuleSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to ``learning_rate``, then /10 after each boundary.

    ``step`` counts the updates already applied (the optimizer's ``iterations``): below
    ``warmup_steps`` the rate is ``learning_rate * step / warmup_steps``; from then on it
    is ``learning_rate / 10**k`` where ``k`` is the number of boundaries the step has
    passed (``step > boundary``), as in the official ``get_lr``.
    """

    def __init__(self, learning_rate: float, warmup_steps: int, boundaries: Sequence[int]) -> None:
        super().__init__()
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.boundaries = [int(b) for b in boundaries]
        if list(self.boundaries) != sorted(self.boundaries):
            raise ValueError(f"lr_boundaries {self.boundaries} must increase")

    @classmethod
    def from_recipe(cls, recipe: HyperRule) -> HyperRuleSchedule:
        """The schedule of a HyperRule recipe."""
        return cls(recipe.learning_rate, recipe.warmup_steps, recipe.lr_boundaries)

    def __call__(self, step: Any) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        levels = tf.constant(
            [self.learning_rate / 10**k for k in range(len(self.boundaries) + 1)], tf.float32
        )
        boundaries = tf.constant(self.boundaries, tf.float32, shape=[len(self.boundaries)])
        passed = tf.reduce_sum(tf.cast(step > boundaries, tf.int32))
        decayed = tf.gather(levels, passed)
        if self.warmup_steps == 0:
            return decayed
        warm = self.learning_rate * step / float(self.warmup_steps)
        return tf.where(step < self.warmup_steps, warm, decayed)

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "boundaries": list(self.boundaries),
        }
