"""The run report: one Markdown page from the artefacts of every stage.

Kedro-free and pure: dicts and tables in, text out. Figures are linked by their file
names in ``data/08_reporting`` (the catalog's names), relative to the report beside them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

HYPERRULE_KEYS = (
    "resize_size", "crop_size", "batch_size", "learning_rate",
    "warmup_steps", "lr_boundaries", "total_steps", "mixup_alpha",
)  # fmt: skip
FIGURES = {
    "resolution": ("Image resolution", "resolution_profile.png"),
    "class_balance": ("Class balance", "class_balance.png"),
    "training_curves": ("Training curves", "training_curves.png"),
    "confusion_matrix": ("Confusion matrix", "confusion_matrix.png"),
    "worst_mistakes": ("Most confident mistakes", "worst_mistakes.png"),
}


def render(
    profile_summary: Mapping[str, Any],
    rejected_images: pd.DataFrame,
    hyperrule: Mapping[str, Any],
    training_history: pd.DataFrame,
    metrics: Mapping[str, Any],
) -> str:
    """The whole report as Markdown."""
    sections = [
        ["# Run report", _model(metrics["model"])],
        _results(metrics),
        _data(profile_summary, rejected_images),
        _hyperrule(hyperrule),
        _training(training_history),
        _per_class(metrics),
    ]
    return "\n\n".join("\n\n".join(part for part in section if part) for section in sections) + "\n"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` holds ``l`` or ``r`` per column (default left)."""
    rule = ["---:" if a == "r" else "---" for a in align.ljust(len(headers), "l")]
    lines = [headers, rule, *([_cell(value) for value in row] for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _figure(key: str) -> str:
    title, path = FIGURES[key]
    return f"![{title}]({path})"


def _number(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def _model(model: Mapping[str, Any]) -> str:
    name = model.get("architecture") or model["name"]
    return (
        f"Model **{name}** ({model['parameters']:,} parameters), {model['num_classes']} "
        f"classes, images resized to {model['resize_size']} and cropped to "
        f"{model['crop_size']} pixels."
    )


def _splits(metrics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {key: value for key, value in metrics.items() if key != "model"}


def _results(metrics: Mapping[str, Any]) -> list[str]:
    splits = _splits(metrics)
    if not splits:
        return ["## Results", "No split was evaluated."]
    rows = [
        (
            split,
            f"{scores['examples']:,}",
            _number(scores["top1"], ".2%"),
            _number(scores.get("top5"), ".2%"),
            _number(scores["macro_f1"], ".4f"),
        )
        for split, scores in splits.items()
    ]
    return [
        "## Results",
        table(("split", "examples", "top-1", "top-5", "macro F1"), rows, "lrrrr"),
        (
            "Top-5 is given only for more than five classes; macro averages run over the "
            "classes present in the split."
        ),
        _figure("confusion_matrix"),
        _figure("worst_mistakes"),
    ]


def _data(summary: Mapping[str, Any], rejected: pd.DataFrame) -> list[str]:
    splits = ", ".join(f"{split} {count:,}" for split, count in summary["per_split"].items())
    width, height = summary.get("width"), summary.get("height")
    size = (
        f"Median size {width['p50']:g} x {height['p50']:g} pixels "
        f"(width {width['p5']:g} to {width['p95']:g}, height {height['p5']:g} to "
        f"{height['p95']:g}, 5th to 95th percentile)."
        if width and height
        else "No decodable image to measure."
    )
    formats = ", ".join(f"{name} {count:,}" for name, count in summary["formats"].items())
    facts = [
        (
            f"- {summary['examples']:,} images ({splits}), {summary['decodable']:,} "
            f"decodable, {len(summary['per_class'])} classes."
        ),
        f"- {size}",
        f"- Formats: {formats or 'none'}.",
    ]
    return [
        "## Data",
        "\n".join(facts),
        _figure("resolution"),
        _figure("class_balance"),
        "### Rejected images",
        _rejected(rejected),
    ]


def _rejected(rejected: pd.DataFrame) -> str:
    if rejected.empty:
        return "None: every image was kept."
    rows = [
        (reason, f"{len(group):,}", group["id"].iloc[0], group["detail"].iloc[0])
        for reason, group in rejected.groupby("reason", sort=True)
    ]
    total = f"{len(rejected):,} images rejected (see `rejected_images`)."
    return total + "\n\n" + table(("reason", "images", "example", "detail"), rows, "lrll")


def _hyperrule(recipe: Mapping[str, Any]) -> list[str]:
    return ["## HyperRule", *hyperrule_table(recipe)]


def hyperrule_table(recipe: Mapping[str, Any]) -> list[str]:
    """What the recipe was derived from, then each value with its reason and override."""
    overrides = recipe.get("overrides", {})
    rows = []
    for key in HYPERRULE_KEYS:
        override = overrides.get(key)
        changed = f"yes (rule: {_value(override['rule_value'])})" if override else "no"
        rows.append((key, _value(recipe[key]), recipe["reasons"].get(key, ""), changed))
    basis = (
        f"Derived from {recipe['train_examples']:,} training images in "
        f"{recipe['num_classes']} classes (median image area {recipe['median_area']:g} pixels, "
        f"schedule {recipe['schedule_bucket']}, batch policy {recipe['batch_policy']})."
    )
    return [basis, table(("setting", "value", "reason", "overridden"), rows, "lrll")]


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value) or "none"
    return format(value, "g") if isinstance(value, float) else str(value)


def _training(history: pd.DataFrame) -> list[str]:
    if history.empty:
        return ["## Training", "No training steps were recorded."]
    last = history.iloc[-1]
    speed = history["images_per_second"].mean()
    summary = (
        f"Final step {int(last['step']):,}: loss {last['loss']:.4f}, train accuracy "
        f"{last['accuracy']:.2%}, learning rate {last['learning_rate']:g}; "
        f"{_number(speed, ',.1f')} images per second on average."
    )
    return ["## Training", summary, _validation(history), _figure("training_curves")]


def _validation(history: pd.DataFrame) -> str:
    """The last and the best validation top-1 during training ('' without validation;
    a history written before validation existed lacks its columns)."""
    validated = history.reindex(columns=["step", "val_loss", "val_accuracy"]).dropna()
    if validated.empty:
        return ""
    last, best = validated.iloc[-1], validated.loc[validated["val_accuracy"].idxmax()]
    return (
        f"Validation during training: top-1 {last['val_accuracy']:.2%} (loss "
        f"{last['val_loss']:.4f}) at step {int(last['step']):,}; the best, "
        f"{best['val_accuracy']:.2%}, at step {int(best['step']):,}."
    )


def _per_class(metrics: Mapping[str, Any]) -> list[str]:
    parts = ["## Per-class scores"]
    for split, scores in _splits(metrics).items():
        rows = [
            (
                name,
                _number(s["precision"], ".4f"),
                _number(s["recall"], ".4f"),
                _number(s["f1"], ".4f"),
                f"{s['support']:,}",
            )
            for name, s in scores["per_class"].items()
        ]
        parts += [
            f"### {split}",
            table(("class", "precision", "recall", "F1", "support"), rows, "lrrrr"),
        ]
    return parts if len(parts) > 1 else []
