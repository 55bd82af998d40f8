"""The BiT-HyperRule as pure functions: no Kedro, no TensorFlow.

Every derived value comes with the reason it was chosen, so the ``hyperrule`` artefact
reads as a decision record ("1,437 training images < 20,000 -> 500 steps"). Values can be
overridden; an override keeps the rule's value and the user's reason beside it.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SMALL_IMAGE_AREA = 96 * 96
REFERENCE_BATCH = 512
REFERENCE_LR = 0.003

BatchPolicy = Literal["official", "colab"]
"""How the learning rate and step counts follow the batch size (``hyperrule.batch_policy``):
``official`` keeps them as published, ``colab`` scales them linearly (:func:`scale_for_batch`)."""
BATCH_POLICIES: tuple[BatchPolicy, ...] = typing.get_args(BatchPolicy)


@dataclass(frozen=True)
class Schedule:
    """A schedule bucket, in steps at the reference batch of 512."""

    name: str
    warmup_steps: int
    boundaries: tuple[int, ...]
    total_steps: int
    mixup_alpha: float


SMALL = Schedule("small", 100, (200, 300, 400), 500, 0.0)
MEDIUM = Schedule("medium", 500, (3_000, 6_000, 9_000), 10_000, 0.1)
LARGE = Schedule("large", 500, (6_000, 12_000, 18_000), 20_000, 0.1)

MEDIUM_FROM = 20_000
LARGE_FROM = 500_000

OVERRIDABLE: dict[str, tuple[type, float]] = {
    "resize_size": (int, 1),
    "crop_size": (int, 1),
    "batch_size": (int, 1),
    "learning_rate": (float, 0),
    "warmup_steps": (int, 0),
    "lr_boundaries": (list, 0),
    "total_steps": (int, 1),
    "mixup_alpha": (float, 0),
}
"""The derived values ``hyperrule.overrides`` may replace: their type and lowest value
(``lr_boundaries``: a list of steps, each at least that)."""


@dataclass(frozen=True)
class HyperRule:
    """The HyperRule values one training follows, typed; made once from the ``hyperrule``
    artefact (:meth:`of`) where a node receives it. ``record`` is the artefact as saved
    (reasons, overrides and the data it was derived from included), for what records it
    whole: the recipe hash, reports and tracking."""

    resize_size: int
    crop_size: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    lr_boundaries: tuple[int, ...]
    total_steps: int
    mixup_alpha: float
    num_classes: int
    record: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, recipe: HyperRule | Mapping[str, Any]) -> HyperRule:
        """``recipe`` as a :class:`HyperRule` (itself when it is one)."""
        if isinstance(recipe, HyperRule):
            return recipe
        return cls(
            resize_size=int(recipe["resize_size"]),
            crop_size=int(recipe["crop_size"]),
            batch_size=int(recipe["batch_size"]),
            learning_rate=float(recipe["learning_rate"]),
            warmup_steps=int(recipe["warmup_steps"]),
            lr_boundaries=tuple(int(step) for step in recipe["lr_boundaries"]),
            total_steps=int(recipe["total_steps"]),
            mixup_alpha=float(recipe["mixup_alpha"]),
            num_classes=int(recipe["num_classes"]),
            record=dict(recipe),
        )


def resolution(median_area: float) -> tuple[int, int, str]:
    """Resize and crop size (square) for images of the given typical area."""
    side = round(median_area**0.5)
    if median_area < SMALL_IMAGE_AREA:
        return 160, 128, f"median image area {side}x{side} < 96x96 -> resize 160, crop 128"
    return 512, 480, f"median image area {side}x{side} >= 96x96 -> resize 512, crop 480"


def schedule(train_examples: int) -> tuple[Schedule, str]:
    """The schedule bucket for a training set of ``train_examples`` images."""
    if train_examples < 1:
        raise ValueError("the HyperRule needs at least one training example")
    n = f"{train_examples:,} training images"
    if train_examples < MEDIUM_FROM:
        return SMALL, f"{n} < {MEDIUM_FROM:,} -> {SMALL.total_steps:,} steps"
    if train_examples < LARGE_FROM:
        return MEDIUM, (
            f"{MEDIUM_FROM:,} <= {n} < {LARGE_FROM:,} -> {MEDIUM.total_steps:,} steps"
        )
    return LARGE, f"{n} >= {LARGE_FROM:,} -> {LARGE.total_steps:,} steps"


def scale_for_batch(
    bucket: Schedule, batch_size: int, policy: BatchPolicy
) -> tuple[float, int, tuple[int, ...], int, str]:
    """Learning rate and step counts for ``batch_size`` under a batch policy.

    ``official`` keeps the reference LR and steps whatever the batch (the official
    script); ``colab`` scales linearly: lr * B / 512 and steps * 512 / B (the TF2 colab).
    Returns (lr, warmup_steps, boundaries, total_steps, reason).
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    if policy == "official":
        return (
            REFERENCE_LR,
            bucket.warmup_steps,
            bucket.boundaries,
            bucket.total_steps,
            (
                f"batch policy 'official': LR {REFERENCE_LR} and steps as at batch "
                f"{REFERENCE_BATCH}, not rescaled for batch {batch_size}"
            ),
        )
    if policy == "colab":
        factor = REFERENCE_BATCH / batch_size

        def steps(s: int) -> int:
            return max(1, round(s * factor))

        lr = REFERENCE_LR * batch_size / REFERENCE_BATCH
        return (
            lr,
            steps(bucket.warmup_steps),
            tuple(steps(b) for b in bucket.boundaries),
            steps(bucket.total_steps),
            (
                f"batch policy 'colab': LR {REFERENCE_LR} x {batch_size}/{REFERENCE_BATCH} = "
                f"{lr:g}, steps x {REFERENCE_BATCH}/{batch_size}"
            ),
        )
    raise ValueError(f"unknown batch policy {policy!r}; choose one of {BATCH_POLICIES}")


def derive(
    *,
    train_examples: int,
    median_area: float,
    num_classes: int,
    batch_size: int = REFERENCE_BATCH,
    batch_policy: BatchPolicy = "official",
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Derive the full training recipe and the reason for every value.

    ``overrides`` maps a recipe key to a value, or to ``{"value": ..., "reason": ...}``.
    The returned dict holds the final values at top level, ``reasons`` per key, and
    ``overrides`` per overridden key with the rule's own value.
    """
    resize, crop, res_reason = resolution(median_area)
    bucket, sched_reason = schedule(train_examples)
    lr, warmup, boundaries, total, batch_reason = scale_for_batch(
        bucket, batch_size, batch_policy
    )
    mixup_reason = (
        f"{bucket.name} dataset ({sched_reason.split(' -> ')[0]}) -> "
        + ("no MixUp" if bucket.mixup_alpha == 0 else f"MixUp alpha {bucket.mixup_alpha}")
    )
    values: dict[str, Any] = {
        "resize_size": resize,
        "crop_size": crop,
        "batch_size": batch_size,
        "learning_rate": lr,
        "warmup_steps": warmup,
        "lr_boundaries": list(boundaries),
        "total_steps": total,
        "mixup_alpha": bucket.mixup_alpha,
    }
    reasons = {
        "resize_size": res_reason,
        "crop_size": res_reason,
        "batch_size": f"batch {batch_size} from parameters",
        "learning_rate": batch_reason,
        "warmup_steps": f"{sched_reason}; warmup {bucket.warmup_steps} at batch 512; "
        + batch_reason,
        "lr_boundaries": f"{sched_reason}; LR /10 after {list(bucket.boundaries)} at batch "
        f"512; " + batch_reason,
        "total_steps": f"{sched_reason} at batch 512; " + batch_reason,
        "mixup_alpha": mixup_reason,
    }
    applied = apply_overrides(values, reasons, overrides or {})
    _check_consistent(values)
    return {
        **values,
        "num_classes": num_classes,
        "train_examples": train_examples,
        "median_area": float(median_area),
        "batch_policy": batch_policy,
        "schedule_bucket": bucket.name,
        "reasons": reasons,
        "overrides": applied,
    }


def apply_overrides(
    values: dict[str, Any], reasons: dict[str, str], overrides: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Replace derived values in place; return the record of what was overridden."""
    applied: dict[str, dict[str, Any]] = {}
    for key, spec in overrides.items():
        if key not in values:
            raise KeyError(
                f"hyperrule.overrides.{key}: not a HyperRule value; "
                f"choose from {sorted(values)}"
            )
        if isinstance(spec, Mapping):
            if "value" not in spec:
                raise KeyError(f"hyperrule.overrides.{key}: give a 'value' (and a 'reason')")
            value, why = spec["value"], spec.get("reason", "set in parameters")
        else:
            value, why = spec, "set in parameters"
        if key == "lr_boundaries":
            value = [int(v) for v in value]
        applied[key] = {"value": value, "rule_value": values[key], "reason": why}
        values[key] = value
        reasons[key] = f"overridden: {why} (the rule gave {applied[key]['rule_value']!r})"
    return applied


def _check_consistent(values: Mapping[str, Any]) -> None:
    total = values["total_steps"]
    bounds = values["lr_boundaries"]
    if values["crop_size"] > values["resize_size"]:
        raise ValueError(
            f"hyperrule: crop_size {values['crop_size']} exceeds resize_size "
            f"{values['resize_size']}; fix the overrides"
        )
    if list(bounds) != sorted(bounds) or (bounds and bounds[-1] >= total):
        raise ValueError(
            f"hyperrule: lr_boundaries {list(bounds)} must increase and end before "
            f"total_steps {total}; fix the overrides"
        )
    if not 0 <= values["warmup_steps"] <= total:
        raise ValueError(
            f"hyperrule: warmup_steps {values['warmup_steps']} must lie in [0, {total}]"
        )
