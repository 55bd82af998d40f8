"""The training pipeline's wiring: its nodes, their inputs, outputs and tags."""

from __future__ import annotations

from bit_finetune.pipelines.training import create_pipeline


def test_pipeline_wiring():
    nodes = {node.name: node for node in create_pipeline().nodes}
    assert set(nodes) == {"train_classifier", "export_serving_model", "plot_training_curves"}
    assert nodes["train_classifier"].inputs == [
        "tfrecord_shards",
        "hyperrule",
        "params:training",
        "training_workspace",
        "backbone_features",
    ]
    assert nodes["train_classifier"].outputs == ["classifier", "training_history"]
    assert nodes["export_serving_model"].inputs == ["classifier", "hyperrule", "label_map"]
    assert nodes["export_serving_model"].outputs == ["serving_model"]
    assert nodes["plot_training_curves"].outputs == ["training_curves_plot"]
    assert all(node.tags == {"training"} for node in nodes.values())
