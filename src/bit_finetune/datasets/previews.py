"""kedro-viz previews of the image sources: the first examples each one lists."""

from __future__ import annotations

from itertools import islice

from kedro_datasets._typing import TablePreview

from bit_finetune.datasets.source import ImageSource

SOURCE_COLUMNS = ["id", "uri", "label_name", "split"]


def source_table(source: ImageSource, nrows: int) -> TablePreview:
    """The first ``nrows`` examples ``source`` lists, without reading any image."""
    rows = [
        [item.id, item.uri, item.label_name, item.split]
        for item in islice(source.scan(), nrows)
    ]
    return TablePreview({"index": list(range(len(rows))), "columns": SOURCE_COLUMNS, "data": rows})
