"""Prediction stage: classify a folder (or TFDS split) of new images in batches."""

from bit_finetune.pipelines.prediction.pipeline import create_pipeline

__all__ = ["create_pipeline"]
