"""The HyperRule learning-rate schedule: warmup, then /10 after each boundary."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from bit_finetune.hyperrule import HyperRule
from bit_finetune.training.schedule import HyperRuleSchedule
from tests.training.tiny import tiny_recipe

LR = 0.003


@pytest.fixture(scope="module")
def schedule() -> HyperRuleSchedule:
    return HyperRuleSchedule(LR, 100, [200, 300, 400])


def lr_at(schedule: HyperRuleSchedule, step: int) -> float:
    return float(schedule(step))


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 0.0),
        (1, LR / 100),
        (50, LR / 2),
        (99, LR * 99 / 100),
        (100, LR),
        (101, LR),
        (199, LR),
        (200, LR),  # the drop comes *after* the boundary, as in the official get_lr
        (201, LR / 10),
        (300, LR / 10),
        (301, LR / 100),
        (400, LR / 100),
        (401, LR / 1000),
        (499, LR / 1000),
        (10_000, LR / 1000),
    ],
)
def test_values_at_and_around_each_boundary(schedule, step, expected):
    assert lr_at(schedule, step) == pytest.approx(expected, rel=1e-6, abs=0)


def test_decayed_levels_are_exact_float32_divisions(schedule):
    levels = [lr_at(schedule, s) for s in (150, 250, 350, 450)]
    assert levels == [float(np.float32(LR / 10**k)) for k in range(4)]


def test_no_warmup_starts_at_full_rate():
    schedule = HyperRuleSchedule(0.1, 0, [2, 4])
    assert [round(lr_at(schedule, s), 6) for s in range(6)] == [0.1, 0.1, 0.1, 0.01, 0.01, 0.001]


def test_from_recipe_and_config_round_trip(schedule):
    recipe = HyperRule.of(
        tiny_recipe(learning_rate=LR, warmup_steps=100, lr_boundaries=[200, 300, 400], total_steps=500)
    )
    assert HyperRuleSchedule.from_recipe(recipe).get_config() == schedule.get_config()
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert isinstance(restored, HyperRuleSchedule)
    assert [lr_at(restored, s) for s in (50, 250, 450)] == [
        lr_at(schedule, s) for s in (50, 250, 450)
    ]


def test_drives_keras_sgd():
    optimizer = keras.optimizers.SGD(learning_rate=HyperRuleSchedule(0.5, 2, [3]))
    variable = keras.Variable(0.0)
    seen = []
    for _ in range(5):
        seen.append(float(optimizer.learning_rate))
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(1.0), variable)])
    assert seen == pytest.approx([0.0, 0.25, 0.5, 0.5, 0.05])


def test_rejects_decreasing_boundaries():
    with pytest.raises(ValueError, match="must increase"):
        HyperRuleSchedule(0.1, 0, [300, 200])
