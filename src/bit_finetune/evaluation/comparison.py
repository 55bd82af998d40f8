"""The transfer report: downstream runs that differ only in their initial weights, side
by side, with the recipes that produced them.

Kedro-free and pure, like :mod:`bit_finetune.evaluation.report`: dicts and tables in,
Markdown out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bit_finetune.evaluation.report import hyperrule_table, table

SPLIT = "test"


@dataclass(frozen=True)
class Run:
    """One evaluated training run: its name, where its weights started, its ``metrics``
    (as the evaluation stage writes them) and its ``training_history``."""

    name: str
    initial_weights: str
    metrics: Mapping[str, Any]
    history: pd.DataFrame

    def score(self, split: str, key: str) -> float | None:
        return self.metrics.get(split, {}).get(key)


def render(
    runs: Sequence[Run],
    downstream_recipe: Mapping[str, Any],
    upstream: Run,
    upstream_recipe: Mapping[str, Any],
) -> str:
    """The report as Markdown: the comparison of ``runs`` (the first is compared with each
    other), the downstream HyperRule, then the upstream pretraining."""
    sections = [
        ["# Transfer report", _task(runs[0], downstream_recipe)],
        ["## Comparison", _comparison(runs), *_gains(runs)],
        ["## Downstream HyperRule", *hyperrule_table(downstream_recipe)],
        ["## Upstream pretraining", _pretraining(upstream, upstream_recipe),
         *hyperrule_table(upstream_recipe)],
    ]  # fmt: skip
    return "\n\n".join("\n\n".join(section) for section in sections) + "\n"


def _classes(run: Run) -> str:
    names = list(run.metrics.get(SPLIT, {}).get("per_class", {}))
    return f" ({', '.join(names)})" if names else ""


def _task(run: Run, recipe: Mapping[str, Any]) -> str:
    tested = run.score(SPLIT, "examples")
    return (
        f"Downstream task: {recipe['num_classes']} classes{_classes(run)}, "
        f"{recipe['train_examples']:,} training images, "
        f"{'no' if tested is None else format(tested, ',')} {SPLIT} images. "
        "The runs share the data, the HyperRule recipe and the seeds; only their initial "
        "weights differ."
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _comparison(runs: Sequence[Run]) -> str:
    rows = []
    for run in runs:
        last = run.history.iloc[-1] if len(run.history) else None
        rows.append((
            f"**{run.name}**",
            run.initial_weights,
            f"**{_percent(run.score(SPLIT, 'top1'))}**",
            _number(run.score(SPLIT, "macro_f1"), ".4f"),
            "n/a" if last is None else f"{int(last['step']):,}",
            "n/a" if last is None else f"{last['loss']:.4f}",
            "n/a" if last is None else _percent(float(last["accuracy"])),
        ))  # fmt: skip
    headers = (
        "run", "initial weights", f"{SPLIT} top-1", f"{SPLIT} macro F1", "steps",
        "final train loss", "final train accuracy",
    )  # fmt: skip
    return table(headers, rows, "llrrrrr")


def _gains(runs: Sequence[Run]) -> list[str]:
    first = runs[0]
    lines = []
    for other in runs[1:]:
        a, b = first.score(SPLIT, "top1"), other.score(SPLIT, "top1")
        if a is not None and b is not None:
            lines.append(
                f"{first.name} vs {other.name}: **{100 * (a - b):+.1f} points** of {SPLIT} top-1."
            )
    return lines


def _pretraining(run: Run, recipe: Mapping[str, Any]) -> str:
    model = run.metrics.get("model", {})
    name = model.get("architecture") or model.get("name", "the model")
    return (
        f"{name} trained from {run.initial_weights} on {recipe['num_classes']} classes"
        f"{_classes(run)}, {recipe['train_examples']:,} training images, "
        f"{recipe['total_steps']:,} steps; {SPLIT} top-1 "
        f"{_percent(run.score(SPLIT, 'top1'))}. Its backbone, saved in the official BiT "
        ".npz layout, is where the transfer run starts."
    )


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
