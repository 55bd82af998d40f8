"""Evaluation stage: metrics, predictions, confusion matrix and worst mistakes."""

from bit_finetune.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
