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
    pipelines = {stage: _stage(stage) for stage in STAGES}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    # On demand only (new images, after training): not part of the default chain.
    pipelines["prediction"] = _stage("prediction")
    return pipelines


def _stage(name: str) -> Pipeline:
    """The stage's pipeline with its nodes in the stage's namespace (``<stage>.<node>``),
    so kedro-viz collapses the DAG to the stages and ``kedro run --namespaces`` selects
    them; dataset and parameter names stay as the catalog spells them."""
    return Pipeline(
        import_module(f"bit_finetune.pipelines.{name}").create_pipeline(),
        namespace=name,
        prefix_datasets_with_namespace=False,
    )

