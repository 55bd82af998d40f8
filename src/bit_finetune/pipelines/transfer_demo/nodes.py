"""Nodes of the transfer demo: thin glue between the stages' own nodes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bit_finetune.evaluation import comparison


def export_backbone(classifier: Any) -> Any:
    """The Keras classifier's backbone, without its head (fitted to the upstream classes);
    its catalog entry saves it in the official BiT .npz layout."""
    return classifier.get_layer("backbone")


def start_from(params: dict[str, Any], weights: str) -> dict[str, Any]:
    """The training parameters with ``model.weights`` set to the ``weights`` file."""
    return {**params, "model": {**params.get("model", {}), "weights": weights}}


def compare_runs(
    transfer_metrics: dict[str, Any],
    transfer_history: pd.DataFrame,
    scratch_metrics: dict[str, Any],
    scratch_history: pd.DataFrame,
    downstream_hyperrule: dict[str, Any],
    upstream_metrics: dict[str, Any],
    upstream_history: pd.DataFrame,
    upstream_hyperrule: dict[str, Any],
) -> str:
    """The transfer report (Markdown): transfer vs random init on the downstream task."""
    runs = [
        comparison.Run("transfer", "upstream backbone", transfer_metrics, transfer_history),
        comparison.Run("random init", "random", scratch_metrics, scratch_history),
    ]
    upstream = comparison.Run("upstream", "random init", upstream_metrics, upstream_history)
    return comparison.render(runs, downstream_hyperrule, upstream, upstream_hyperrule)
