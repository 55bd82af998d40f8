"""HyperRule stage: derive the training recipe from the measured dataset."""

from bit_finetune.pipelines.hyperrule.pipeline import create_pipeline

__all__ = ["create_pipeline"]
