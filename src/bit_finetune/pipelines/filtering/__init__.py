"""Filtering: drop undecodable images and, when enabled, off-size and duplicate ones."""

from bit_finetune.pipelines.filtering.pipeline import create_pipeline

__all__ = ["create_pipeline"]
