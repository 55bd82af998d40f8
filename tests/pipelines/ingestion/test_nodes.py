"""The ingestion node: its parameters, its outputs and its wiring (the index itself:
``tests/data/test_image_index.py``)."""

from __future__ import annotations

import pytest

from bit_finetune.errors import ConfigError
from bit_finetune.pipelines.ingestion.nodes import index_images
from tests.listed_source import ListedSource, listed


def test_the_node_returns_the_index_and_the_label_map():
    index, label_map = index_images(ListedSource(listed({"dog": 3, "cat": 4})), {"seed": 1})
    assert label_map == {"names": ["cat", "dog"]}
    assert len(index) == 7


def test_bad_parameters_and_empty_source():
    with pytest.raises(ConfigError, match="ingestion.examples_per_class"):
        index_images(ListedSource(listed({"a": 2})), {"examples_per_class": 0})
    with pytest.raises(ConfigError, match="lists no images"):
        index_images(ListedSource([]), {})
