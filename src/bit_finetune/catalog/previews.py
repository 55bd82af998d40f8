"""kedro-viz previews: the first examples an image source lists, a Keras model's layers."""

from __future__ import annotations

import math
from itertools import islice
from typing import TYPE_CHECKING, Any, NewType

from bit_finetune.data.source import ImageSource

if TYPE_CHECKING:
    import keras

SOURCE_COLUMNS = ["id", "uri", "label_name", "split"]
LAYER_COLUMNS = ["layer", "type", "output", "parameters", "trainable"]

# kedro-viz picks a dataset's preview kind by the name of its ``preview()`` return
# annotation, nothing else: these types carry the names it knows. kedro-datasets declares
# the same types only in a private module (``kedro_datasets._typing``).
TablePreview = NewType("TablePreview", dict)
"""A table kedro-viz shows: ``{"index": [...], "columns": [...], "data": [[...], ...]}``."""

JSONPreview = NewType("JSONPreview", str)
"""A JSON document, as text, that kedro-viz shows as a tree (its ``json`` preview kind)."""

TextPreview = NewType("TextPreview", str)
"""Text that kedro-viz shows as it is, in a monospace box (its ``text`` preview kind)."""


def source_table(source: ImageSource, nrows: int) -> TablePreview:
    """The first ``nrows`` examples ``source`` lists, without reading any image."""
    rows = [
        [item.id, item.uri, item.label_name, item.split]
        for item in islice(source.scan(), nrows)
    ]
    return table(SOURCE_COLUMNS, rows)


def layer_table(model: keras.Model) -> TablePreview:
    """One row per top-level layer of a functional ``model`` (a nested backbone is one
    row): its type, output shape and parameter counts; then a row of the model's totals."""
    rows = [
        [layer.name, type(layer).__name__, shape_text(layer.output.shape), layer.count_params(),
         _size(layer.trainable_weights)]
        for layer in model.layers
    ]  # fmt: skip
    rows.append(["total", model.name, shape_text(model.output.shape), model.count_params(),
                 _size(model.trainable_weights)])  # fmt: skip
    return table(LAYER_COLUMNS, rows)


def table(columns: list[str], rows: list[list[Any]]) -> TablePreview:
    """A kedro-viz table of ``rows`` under ``columns``, numbered from 0."""
    return TablePreview({"index": list(range(len(rows))), "columns": columns, "data": rows})


def shape_text(shape: tuple[int | None, ...]) -> str:
    """``[?, ?, ?, 3]``: unknown sizes as ``?``."""
    return "[" + ", ".join("?" if size is None else str(size) for size in shape) + "]"


def _size(weights: list[Any]) -> int:
    return sum(math.prod(weight.shape) for weight in weights)
