"""Wiring of the transfer demo, from the stages' own pipelines under Kedro namespaces.

- ``upstream``: the data stages, training and evaluation on one part of a dataset, then
  ``export_backbone`` writes the backbone in the official .npz layout (``upstream.backbone``).
- ``downstream``: the data stages on the other part (few examples per class).
- ``transfer`` and ``scratch``: the same training and evaluation on the downstream
  shards, with the parameters ``downstream.training``; ``transfer`` starts from the
  upstream file (``start_from_upstream`` sets ``model.weights`` to it, which also orders
  it after the upstream run), ``scratch`` from the weights those parameters name.
- ``comparison.compare_runs`` writes ``transfer_report``.

Parameters the demo does not change (profiling, filtering, preprocessing) are the base
run's, all three evaluations share ``transfer_demo.evaluation``; datasets are prefixed
with their namespace.
"""

from __future__ import annotations

import warnings

from kedro.pipeline import Node, Pipeline

from bit_finetune.pipelines import stage_pipeline
from bit_finetune.pipelines.transfer_demo.nodes import compare_runs, export_backbone, start_from

DATA_STAGES = ("ingestion", "profiling", "filtering", "hyperrule", "preprocessing")
PARAMETERS = {
    "profiling": "profiling",
    "filtering": "filtering",
    "preprocessing": "preprocessing",
    "evaluation": "transfer_demo.evaluation",
}
"""Parameter sections every instance shares: the base run's, and the demo's evaluation."""
DOWNSTREAM_DATA = ("tfrecord_shards", "hyperrule", "label_map")


def transfer_demo() -> Pipeline:
    """Upstream pretraining, downstream data, the two downstream runs and their report."""
    with warnings.catch_warnings():
        # Kedro warns once when a node reads a dataset of another namespace; reading the
        # downstream shards and the upstream file across namespaces is the design here.
        warnings.filterwarnings("ignore", "One or more dataset names contain '.'", UserWarning)
        return _upstream() + _namespaced(_data(), "downstream") + _runs() + _comparison()


def _upstream() -> Pipeline:
    """Pretraining, evaluated, then the backbone exported in the official layout."""
    export = Node(export_backbone, "classifier", "backbone", name="export_backbone")
    return _namespaced(_data() + _training() + _evaluation() + Pipeline([export]), "upstream")


def _runs() -> Pipeline:
    """Transfer from the upstream backbone, and the same run from its own weights."""
    start = Node(start_from, ["params:training", "backbone"], "training_settings",
                 name="start_from_upstream")  # fmt: skip
    transfer = _downstream_run(
        Pipeline([start]) + _training(settings="training_settings") + _evaluation(),
        "transfer",
        backbone="upstream.backbone",
    )
    return transfer + _downstream_run(_training() + _evaluation(), "scratch")


def _data() -> Pipeline:
    """The data stages' nodes that lead to the shards (no profile summary or plots)."""
    stages = sum((stage_pipeline(stage) for stage in DATA_STAGES), Pipeline([]))
    return stages.to_outputs("tfrecord_shards")


def _training(**kwargs: str) -> Pipeline:
    return stage_pipeline("training", **kwargs).to_outputs("classifier")


def _evaluation() -> Pipeline:
    return stage_pipeline("evaluation").to_outputs("metrics")


def _namespaced(
    pipe: Pipeline, namespace: str, inputs: dict[str, str] | None = None, **parameters: str
) -> Pipeline:
    """``pipe`` under ``namespace``, ``inputs`` and ``parameters`` mapped to the given
    names, and the shared sections it uses (:data:`PARAMETERS`) to theirs."""
    shared = {k: v for k, v in PARAMETERS.items() if f"params:{k}" in pipe.inputs()}
    return Pipeline(pipe, namespace=namespace, inputs=inputs,
                    parameters={**shared, **parameters})  # fmt: skip


def _downstream_run(pipe: Pipeline, namespace: str, **inputs: str) -> Pipeline:
    """Training and evaluation on the downstream data, with ``downstream.training``."""
    data = {name: f"downstream.{name}" for name in DOWNSTREAM_DATA if name in pipe.inputs()}
    return _namespaced(pipe, namespace, {**data, **inputs}, training="downstream.training")


def _comparison() -> Pipeline:
    """The report of the three runs, ``transfer_report``."""
    node = Node(
        compare_runs,
        inputs={
            "transfer_metrics": "transfer.metrics",
            "transfer_history": "transfer.training_history",
            "scratch_metrics": "scratch.metrics",
            "scratch_history": "scratch.training_history",
            "downstream_hyperrule": "downstream.hyperrule",
            "upstream_metrics": "upstream.metrics",
            "upstream_history": "upstream.training_history",
            "upstream_hyperrule": "upstream.hyperrule",
        },
        outputs="transfer_report",
        name="compare_runs",
    )
    return Pipeline([node], namespace="comparison", prefix_datasets_with_namespace=False)
