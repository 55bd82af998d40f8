"""The contract every raw image source fulfils.

A source is what the ``raw_images`` catalog entry loads: a lazy handle that can list its
examples without decoding them (:meth:`ImageSource.scan`) and stream the encoded bytes of
chosen examples (:meth:`ImageSource.read`). Nodes only ever see this interface, so the
dataset behind ``raw_images`` is swapped by editing the catalog, never the code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceItem:
    """One example as the source lists it, before any decoding.

    Attributes:
        id: stable identifier, unique within the source (e.g. ``train/cat/001.jpg``).
        uri: where to read the encoded bytes from; only the source that issued it
            needs to understand it.
        label_name: class name as the source spells it.
        split: ``train``/``validation``/``test`` when the source defines splits, else None.
    """

    id: str
    uri: str
    label_name: str
    split: str | None


@dataclass(frozen=True)
class ReadResult:
    """The encoded bytes of one example, or why they could not be read."""

    uri: str
    data: bytes | None
    error: str | None = None


class ImageSource(ABC):
    """A lazily read collection of labelled, encoded images."""

    @abstractmethod
    def scan(self) -> Iterator[SourceItem]:
        """Yield every example's metadata, in a deterministic order, without decoding."""

    @abstractmethod
    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        """Yield the encoded bytes for ``uris``: exactly one result per requested uri.

        Results come in the source's natural streaming order (the given order for
        file-based sources), so callers match them by ``ReadResult.uri``. A failure to
        read one example is reported in its result, never raised.
        """

    @property
    def label_names(self) -> list[str] | None:
        """Class names in the source's own label order, when it defines one."""
        return None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """A short description for logs and kedro-viz."""
