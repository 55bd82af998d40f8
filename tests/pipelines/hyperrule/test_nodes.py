import pandas as pd
import pytest

from bit_finetune.errors import ConfigError
from bit_finetune.pipelines.hyperrule.nodes import derive_hyperrule


def _index(sizes, split="train"):
    return pd.DataFrame(
        {
            "id": [f"img{i}" for i in range(len(sizes))],
            "split": split,
            "label": 0,
            "width": [w for w, _ in sizes],
            "height": [h for _, h in sizes],
        }
    )


def test_uses_median_area_of_training_images_only():
    index = pd.concat(
        [
            _index([(50, 50), (60, 60), (100, 100)]),
            _index([(1000, 1000)] * 10, split="test"),
        ]
    )
    recipe = derive_hyperrule(index, {"names": ["a", "b"]}, {"batch_size": 64})
    assert recipe["median_area"] == 3600
    assert recipe["resize_size"] == 160
    assert recipe["train_examples"] == 3
    assert recipe["num_classes"] == 2
    assert recipe["batch_size"] == 64


def test_no_training_images_is_a_clear_error():
    with pytest.raises(ValueError, match="no training images"):
        derive_hyperrule(_index([(10, 10)], split="test"), {"names": ["a", "b"]}, {})


def test_unknown_parameter_is_named():
    with pytest.raises(ConfigError, match="hyperrule.batchsize: unknown parameter"):
        derive_hyperrule(_index([(10, 10)]), {"names": ["a", "b"]}, {"batchsize": 3})
