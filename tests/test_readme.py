"""The README's "Use the exported model" snippet, run verbatim against a tiny exported model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.pipelines.prediction.tiny_serving import NAMES, export_tiny_model, softmax

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- snippet: use-the-exported-model"
BIAS = [0.0, 2.0, 0.5]  # the head ignores the image: always "dog", at softmax(BIAS)[1]


def snippet() -> str:
    """The first ``python`` code block after the marker comment."""
    text = README.read_text()
    assert MARKER in text, f"README.md lost its marker {MARKER!r}"
    found = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.DOTALL)
    assert found, "no python code block after the marker"
    return found[1]


def test_snippet_classifies_one_image_with_plain_tensorflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    code = snippet()
    assert "bit_finetune" not in code and "kedro" not in code
    export_tiny_model(tmp_path / "data/06_models/serving", bias=BIAS)
    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)

    exec(compile(code, str(README), "exec"), {"__name__": "__main__"})  # noqa: S102

    expected = f"{NAMES[1]} ({softmax(BIAS)[1]:.1%})"
    assert capsys.readouterr().out.strip() == expected
