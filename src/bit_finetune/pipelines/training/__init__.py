"""Training stage: fine-tune the classifier, export it for serving, plot its curves."""

from bit_finetune.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
