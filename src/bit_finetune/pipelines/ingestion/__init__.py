"""Ingestion: list the raw images once, with label ids and train/validation/test splits."""

from bit_finetune.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
