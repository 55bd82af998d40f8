"""The official-layout weights file as a catalog artefact."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bit_finetune.bit.backbone import build_backbone
from bit_finetune.bit.classifier import build_classifier
from bit_finetune.bit.npz import load_npz
from bit_finetune.catalog import BiTWeightsDataset
from bit_finetune.catalog.kedro_private import make_saves_atomic

IMAGES = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")


def test_saves_a_classifier_and_loads_as_a_path_the_backbone_reads(tmp_path: Path):
    classifier = build_classifier("R14x0.25", 5)
    for variable in classifier.get_layer("backbone").weights:
        variable.assign(np.full(variable.shape, 0.05, dtype="float32"))
    dataset = BiTWeightsDataset(filepath=str(tmp_path / "models/upstream/backbone.npz"))
    assert not dataset.exists()
    assert make_saves_atomic(dataset)
    dataset.save(classifier)
    path = dataset.load()
    assert path == str((tmp_path / "models/upstream/backbone.npz").resolve())
    assert sorted(p.name for p in Path(path).parent.iterdir()) == ["backbone.npz"]  # no partial
    fresh = build_backbone("R14x0.25")
    load_npz(fresh, path)
    expected = classifier.get_layer("backbone")(IMAGES * 2 - 1)
    np.testing.assert_allclose(fresh(IMAGES * 2 - 1), expected, rtol=1e-5, atol=1e-6)


def test_preview_lists_every_official_key_with_its_shape(tmp_path: Path):
    dataset = BiTWeightsDataset(filepath=str(tmp_path / "backbone.npz"))
    dataset.save(build_backbone("R14x0.25"))
    preview = dataset.preview()
    rows = dict(preview["data"])
    assert rows["resnet/root_block/standardized_conv2d/kernel"] == "[7, 7, 3, 16]"
    assert preview["columns"] == ["key", "shape"] and len(rows) == len(preview["index"])
