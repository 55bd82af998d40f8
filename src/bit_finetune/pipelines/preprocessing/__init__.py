"""Preprocessing stage: resize every kept image once and write TFRecord shards."""

from bit_finetune.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
