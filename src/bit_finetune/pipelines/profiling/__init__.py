"""Profiling: what the images are (size, mode, format, readability) before anything uses them."""

from bit_finetune.pipelines.profiling.pipeline import create_pipeline

__all__ = ["create_pipeline"]
