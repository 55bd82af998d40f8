"""The project's pipelines: one per stage, ``__default__`` the whole chain."""

from __future__ import annotations

from importlib import import_module

from kedro.pipeline import Pipeline

STAGES = (
    "ingestion",
    "profiling",
    "filtering",
    "hyperrule",
    "preprocessing",
    "training",
    "evaluation",
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register each stage's pipeline under its own name and chain them as the default."""
    pipelines = {
        stage: import_module(f"bit_finetune.pipelines.{stage}").create_pipeline()
        for stage in STAGES
        if _exists(stage)
    }
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines


def _exists(stage: str) -> bool:
    from importlib.util import find_spec

    return find_spec(f"bit_finetune.pipelines.{stage}") is not None
