"""The project's pipelines: one per stage, ``__default__`` the whole chain, and the
on-demand ``prediction``, ``comparison`` and ``transfer_demo``."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from bit_finetune.pipelines import stage_pipeline
from bit_finetune.pipelines.transfer_demo import transfer_demo

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
    pipelines = {stage: stage_pipeline(stage) for stage in STAGES}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    # On demand only (new images, after training): not part of the default chain.
    pipelines["prediction"] = stage_pipeline("prediction")
    # On demand only (the runs tracked in the MLflow store, side by side).
    pipelines["comparison"] = stage_pipeline("comparison")
    # On demand only (kedro run --env transfer_demo --pipelines transfer_demo).
    pipelines["transfer_demo"] = transfer_demo()
    return pipelines
