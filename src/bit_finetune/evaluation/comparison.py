"""Runs side by side: the transfer report (downstream runs that differ only in their
initial weights, with the recipes that produced them) and the comparison of the runs
tracked in the MLflow store (one row and one bar per evaluated run).

Kedro-free and pure, like :mod:`bit_finetune.evaluation.report`: dicts and tables in,
Markdown, tables and Matplotlib figures out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bit_finetune.evaluation.plots import message_figure
from bit_finetune.evaluation.report import hyperrule_table, table

SPLIT = "test"

COMPARISON_COLUMNS = (
    "run", "run_id", "dataset", "architecture", "weights", "steps", "batch_size",
    "resolution", "test_top1", "test_top5", "minutes", "started", "status", "resumed_from",
)  # fmt: skip
"""The run comparison's columns, one row per evaluated tracked run."""
TAG = "tags.bit_finetune."
NO_RUNS = "no tracked runs yet"


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


def comparison_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run of ``runs`` (the tracked runs, as
    :func:`~bit_finetune.tracking.tracked_runs_table` reads them) that has a
    test top-1, under :data:`COMPARISON_COLUMNS`: the run's name and id, its dataset
    (experiment), architecture and initial weights, the HyperRule's steps, batch size and
    resolution (crop size), its test top-1 and top-5, its wall time in minutes (missing
    while it runs), when it started (ISO 8601, UTC), its status and the run it resumed.
    Sorted by dataset, then best test top-1 first."""
    top1 = _column(runs, f"metrics.{SPLIT}.top1")
    runs = runs[pd.to_numeric(top1, errors="coerce").notna()]
    if runs.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in COMPARISON_COLUMNS})
    start = pd.to_datetime(runs["start_time"], utc=True)
    end = pd.to_datetime(runs["end_time"], utc=True)
    frame = pd.DataFrame({
        "run": _column(runs, "run_name"),
        "run_id": runs["run_id"],
        "dataset": _column(runs, "dataset").fillna(_column(runs, f"{TAG}env")),
        "architecture": _column(runs, f"{TAG}architecture").fillna(
            _column(runs, "params.training.model.architecture")),
        "weights": _column(runs, f"{TAG}weights"),
        "steps": _integers(_column(runs, "params.rule.total_steps")),
        "batch_size": _integers(_column(runs, "params.rule.batch_size")),
        "resolution": _integers(_column(runs, "params.rule.crop_size")),
        "test_top1": pd.to_numeric(_column(runs, f"metrics.{SPLIT}.top1"), errors="coerce"),
        "test_top5": pd.to_numeric(_column(runs, f"metrics.{SPLIT}.top5"), errors="coerce"),
        "minutes": ((end - start).dt.total_seconds() / 60).round(2),
        "started": start.map(lambda time: None if pd.isna(time) else time.isoformat()),
        "status": _column(runs, "status"),
        "resumed_from": _column(runs, f"{TAG}resumed_from"),
    })  # fmt: skip
    frame = frame.sort_values(
        ["dataset", "test_top1", "started"], ascending=[True, False, True], kind="stable"
    )
    return frame.reset_index(drop=True)[list(COMPARISON_COLUMNS)]


def comparison_figure(comparison: pd.DataFrame, title: str = "Tracked runs") -> Figure:
    """Test top-1 of each run of a :func:`comparison_table` as horizontal bars, labelled by
    run name (with the start of its id where names repeat) and coloured by dataset, in the
    table's order from the top; beside it, each run's wall time in minutes."""
    if comparison.empty:
        return message_figure(title, f"{NO_RUNS}: runs show here once a kedro run with "
                                     "the mlflow extra has evaluated a classifier")  # fmt: skip
    count = len(comparison)
    labels = _labels(comparison)
    datasets = list(dict.fromkeys(comparison["dataset"].fillna("?")))
    colours = {name: f"C{index % 10}" for index, name in enumerate(datasets)}
    bar_colours = [colours[name] for name in comparison["dataset"].fillna("?")]
    y = np.arange(count)[::-1]
    fig = Figure(figsize=(11.0, 2.2 + 0.35 * count), layout="constrained")
    accuracy, minutes = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1])
    top1 = comparison["test_top1"].astype(float).to_numpy()
    accuracy.barh(y, top1 * 100, color=bar_colours)
    for row, value in zip(y, top1):
        accuracy.text(value * 100 + 1, row, f"{value:.1%}", va="center", fontsize=8)
    accuracy.set_xlim(0, 112)
    accuracy.set_xlabel(f"{SPLIT} top-1 (%)")
    accuracy.set_yticks(y, labels, fontsize=8)
    fig.suptitle(title)
    fig.legend(
        handles=[Patch(color=colours[name], label=name) for name in datasets],
        title="dataset", loc="outside lower center", ncols=min(len(datasets), 6), fontsize=8,
    )  # fmt: skip
    wall = comparison["minutes"].astype(float).to_numpy()
    minutes.barh(y, np.nan_to_num(wall), color=bar_colours, alpha=0.6)
    longest = float(np.nanmax(wall)) if np.isfinite(wall).any() else 1.0
    for row, value in zip(y, wall):
        text = "running" if np.isnan(value) else f"{value:.1f} min"
        minutes.text((0 if np.isnan(value) else value) + longest * 0.02, row, text,
                     va="center", fontsize=8)  # fmt: skip
    minutes.set_xlim(0, max(longest, 1e-3) * 1.35)
    minutes.set_xlabel("wall time (minutes)")
    return fig


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    """``runs[name]``, or missing values where the store has no such column."""
    if name in runs.columns:
        return runs[name].astype(object).where(runs[name].notna(), None)
    return pd.Series([None] * len(runs), index=runs.index, dtype=object)


def _integers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").round().astype("Int64")


def _labels(comparison: pd.DataFrame) -> list[str]:
    names = comparison["run"].fillna("(unnamed)").astype(str)
    repeated = names.duplicated(keep=False)
    return [f"{name} [{run_id[:8]}]" if twice else name
            for name, run_id, twice in zip(names, comparison["run_id"].astype(str), repeated)]
