"""An in-memory image source listing given items (nothing to read)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bit_finetune.data.source import ImageSource, ReadResult, SourceItem


class ListedSource(ImageSource):
    """An in-memory source listing the given items (nothing to read)."""

    def __init__(self, items: Iterable[SourceItem], names: list[str] | None = None) -> None:
        self.items = list(items)
        self.names = names

    def scan(self) -> Iterator[SourceItem]:
        return iter(self.items)

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        return (ReadResult(uri, b"") for uri in uris)

    @property
    def label_names(self) -> list[str] | None:
        return self.names

    def describe(self) -> dict:
        return {"type": "listed"}


def listed(sizes: dict[str, int], split: str | None = None) -> list[SourceItem]:
    return [
        SourceItem(f"{split or 'all'}/{label}/{n}", f"mem:{split}/{label}/{n}", label, split)
        for label, count in sizes.items()
        for n in range(count)
    ]
