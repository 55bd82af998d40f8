"""Fixtures the stages' tests share."""

from __future__ import annotations

import pytest

from tests.bad_images import FileSource, index_of, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    """The broken and unusual files of :mod:`tests.bad_images` in a folder:
    ``(expected_good by file name, a source reading them, their index)``."""
    folder = tmp_path_factory.mktemp("corpus")
    expected = write_corpus(folder)
    source = FileSource(folder)
    return expected, source, index_of(source)
