"""The key of the stored backbone features: what changes it, and what does not."""

from __future__ import annotations

import os
from types import SimpleNamespace

from bit_finetune.config import ModelParams
from bit_finetune.training.features import feature_key


def shards(checksum: str = "a" * 64, size: int = 64) -> SimpleNamespace:
    train = {"count": 3, "files": [{"name": "train-0.tfrecord", "sha256": checksum}]}
    return SimpleNamespace(manifest={"splits": {"train": train}}, image_size=size)


def test_the_key_follows_the_data_the_crop_and_the_weights(tmp_path):
    weights = tmp_path / "w.npz"
    weights.write_bytes(b"first")
    model = ModelParams(architecture="R14x0.25", weights=str(weights))
    key = feature_key(shards(), 64, model)
    assert key == feature_key(shards(), 64, model)
    assert key != feature_key(shards(checksum="b" * 64), 64, model)
    assert key != feature_key(shards(size=80), 64, model)
    assert key != feature_key(shards(), 48, model)
    assert key != feature_key(shards(), 64, ModelParams(architecture="R14x0.25"))
    weights.write_bytes(b"second, retrained")
    os.utime(weights, ns=(1, 1))
    assert key != feature_key(shards(), 64, model)
