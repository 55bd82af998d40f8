"""The HyperRule table, pinned at every bucket boundary."""

import dataclasses

import pytest

from bit_finetune import hyperrule
from bit_finetune.hyperrule import HyperRule, derive


@pytest.mark.parametrize(
    ("examples", "bucket", "total", "boundaries", "warmup", "alpha"),
    [
        (1, "small", 500, [200, 300, 400], 100, 0.0),
        (19_999, "small", 500, [200, 300, 400], 100, 0.0),
        (20_000, "medium", 10_000, [3_000, 6_000, 9_000], 500, 0.1),
        (499_999, "medium", 10_000, [3_000, 6_000, 9_000], 500, 0.1),
        (500_000, "large", 20_000, [6_000, 12_000, 18_000], 500, 0.1),
    ],
)
def test_schedule_buckets(examples, bucket, total, boundaries, warmup, alpha):
    recipe = hyperrule.derive(train_examples=examples, median_area=200 * 200, num_classes=3)
    assert recipe["schedule_bucket"] == bucket
    assert recipe["total_steps"] == total
    assert recipe["lr_boundaries"] == boundaries
    assert recipe["warmup_steps"] == warmup
    assert recipe["mixup_alpha"] == alpha
    assert f"{examples:,} training images" in recipe["reasons"]["total_steps"]


@pytest.mark.parametrize(
    ("area", "resize", "crop"),
    [(96 * 96 - 1, 160, 128), (96 * 96, 512, 480), (8 * 8, 160, 128), (500 * 375, 512, 480)],
)
def test_resolution_threshold(area, resize, crop):
    recipe = hyperrule.derive(train_examples=100, median_area=area, num_classes=2)
    assert (recipe["resize_size"], recipe["crop_size"]) == (resize, crop)
    assert "96x96" in recipe["reasons"]["resize_size"]


def test_reason_reads_as_a_decision():
    recipe = hyperrule.derive(train_examples=1_437, median_area=64, num_classes=10)
    assert recipe["reasons"]["total_steps"].startswith("1,437 training images < 20,000 -> 500")


def test_official_policy_keeps_lr_and_steps_for_any_batch():
    recipe = hyperrule.derive(
        train_examples=50_000, median_area=32 * 32, num_classes=10, batch_size=128
    )
    assert recipe["learning_rate"] == pytest.approx(0.003)
    assert recipe["total_steps"] == 10_000
    assert "official" in recipe["reasons"]["learning_rate"]


def test_colab_policy_scales_linearly():
    recipe = hyperrule.derive(
        train_examples=50_000,
        median_area=32 * 32,
        num_classes=10,
        batch_size=128,
        batch_policy="colab",
    )
    assert recipe["learning_rate"] == pytest.approx(0.003 * 128 / 512)
    assert recipe["total_steps"] == 40_000
    assert recipe["lr_boundaries"] == [12_000, 24_000, 36_000]
    assert recipe["warmup_steps"] == 2_000


def test_unknown_batch_policy_is_named():
    with pytest.raises(ValueError, match="batch policy 'linear'"):
        hyperrule.derive(
            train_examples=10, median_area=64, num_classes=2, batch_policy="linear"
        )


def test_override_is_recorded_with_rule_value_and_reason():
    recipe = hyperrule.derive(
        train_examples=1_437,
        median_area=64,
        num_classes=10,
        overrides={
            "learning_rate": {"value": 0.1, "reason": "training from scratch"},
            "total_steps": 600,
        },
    )
    assert recipe["learning_rate"] == 0.1
    assert recipe["overrides"]["learning_rate"] == {
        "value": 0.1,
        "rule_value": 0.003,
        "reason": "training from scratch",
    }
    assert recipe["overrides"]["total_steps"]["rule_value"] == 500
    assert recipe["reasons"]["learning_rate"].startswith("overridden: training from scratch")
    assert "mixup_alpha" not in recipe["overrides"]


def test_unknown_override_key_names_the_parameter():
    with pytest.raises(KeyError, match="hyperrule.overrides.lr"):
        hyperrule.derive(
            train_examples=10, median_area=64, num_classes=2, overrides={"lr": 0.1}
        )


def test_inconsistent_override_is_refused():
    with pytest.raises(ValueError, match="crop_size 200 exceeds resize_size 160"):
        hyperrule.derive(
            train_examples=10, median_area=64, num_classes=2, overrides={"crop_size": 200}
        )
    with pytest.raises(ValueError, match="lr_boundaries"):
        hyperrule.derive(
            train_examples=10, median_area=64, num_classes=2, overrides={"total_steps": 300}
        )


def test_a_derived_recipe_becomes_one_typed_frozen_object():
    derived = derive(train_examples=1437, median_area=64 * 64, num_classes=10, batch_size=128,
                     batch_policy="colab", overrides={"total_steps": 3000})
    recipe = HyperRule.of(derived)
    assert (recipe.resize_size, recipe.crop_size, recipe.total_steps) == (160, 128, 3000)
    assert recipe.lr_boundaries == tuple(derived["lr_boundaries"])
    assert recipe.learning_rate == derived["learning_rate"] and recipe.num_classes == 10
    assert recipe.record == derived  # reasons and overrides kept for the records
    assert HyperRule.of(recipe) is recipe
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.total_steps = 1  # type: ignore[misc]
