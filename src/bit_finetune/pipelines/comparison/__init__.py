"""Comparison stage: the runs tracked in the MLflow store side by side (run on demand)."""

from bit_finetune.pipelines.comparison.pipeline import create_pipeline

__all__ = ["create_pipeline"]
