"""The run report's catalog type: kedro-datasets' text dataset with a preview."""

from __future__ import annotations

from kedro_datasets.text import TextDataset

from bit_finetune.catalog.previews import TextPreview


class MarkdownDataset(TextDataset):
    """``text.TextDataset`` for a Markdown page; kedro-viz previews it as written."""

    def preview(self) -> TextPreview:
        """The Markdown source."""
        return TextPreview(self.load())
