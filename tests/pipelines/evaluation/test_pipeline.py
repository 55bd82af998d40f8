"""The evaluation pipeline's wiring: its nodes, their inputs, outputs and tags."""

from __future__ import annotations

from bit_finetune.pipelines.evaluation import create_pipeline


def test_pipeline_wiring():
    nodes = {node.name: node for node in create_pipeline().nodes}
    assert set(nodes) == {
        "evaluate_classifier",
        "plot_confusion_matrix",
        "plot_worst_mistakes",
        "write_report",
    }
    evaluate = nodes["evaluate_classifier"]
    assert evaluate.inputs == [
        "classifier",
        "tfrecord_shards",
        "hyperrule",
        "label_map",
        "params:evaluation",
    ]
    assert evaluate.outputs == ["metrics", "predictions"]
    assert nodes["plot_confusion_matrix"].inputs == ["predictions", "label_map"]
    assert nodes["plot_confusion_matrix"].outputs == ["confusion_matrix_plot"]
    assert nodes["plot_worst_mistakes"].inputs == [
        "predictions",
        "tfrecord_shards",
        "label_map",
        "params:evaluation",
    ]
    assert nodes["plot_worst_mistakes"].outputs == ["mistakes_plot"]
    assert nodes["write_report"].inputs == [
        "profile_summary",
        "rejected_images",
        "hyperrule",
        "training_history",
        "metrics",
    ]
    assert nodes["write_report"].outputs == ["run_report"]
    assert all(node.tags == {"evaluation"} for node in nodes.values())
