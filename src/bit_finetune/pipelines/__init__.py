"""The stage pipelines, one sub-package each, and how they are namespaced."""

from __future__ import annotations

from importlib import import_module

from kedro.pipeline import Pipeline


def stage_pipeline(name: str, **kwargs: str) -> Pipeline:
    """The stage's pipeline with its nodes in the stage's namespace (``<stage>.<node>``),
    so kedro-viz collapses the DAG to the stages and ``kedro run --namespaces`` selects
    them; dataset and parameter names stay as the catalog spells them. ``kwargs`` go to
    the stage's ``create_pipeline``."""
    return Pipeline(
        import_module(f"bit_finetune.pipelines.{name}").create_pipeline(**kwargs),
        namespace=name,
        prefix_datasets_with_namespace=False,
    )
