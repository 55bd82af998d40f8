"""The README's snippets run as written: "Use the exported model" against a tiny exported
model, and the "Your own data" recipe in a fresh project copy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_project import copy_project

from tests.pipelines.prediction.tiny_serving import NAMES, export_tiny_model, softmax

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- snippet: use-the-exported-model"
BIAS = [0.0, 2.0, 0.5]  # the head ignores the image: always "dog", at softmax(BIAS)[1]


def snippet(marker: str = MARKER) -> str:
    """The first ``python`` code block after the marker comment."""
    text = README.read_text()
    assert marker in text, f"README.md lost its marker {marker!r}"
    found = re.search(r"```python\n(.*?)```", text[text.index(marker) :], re.DOTALL)
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


@pytest.mark.slow
def test_a_saved_classifier_loads_in_plain_keras_as_shown(tmp_path: Path):
    """The README's loading snippet in a fresh interpreter: safe mode, no Kedro."""
    from bit_finetune.bit.classifier import build_classifier

    (tmp_path / "data/06_models").mkdir(parents=True)
    build_classifier("R14x0.25", 3).save(tmp_path / "data/06_models/classifier.keras")
    code = snippet("<!-- snippet: load-the-classifier")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "bit_R14x0_25 (None, 3)"


def own_data_commands() -> list[str]:
    """The shell blocks of the README's "Your own data" section, in order."""
    text = README.read_text()
    section = text[text.index("## Your own data\n") :]
    section = section[: section.index("\n## ", 1)]
    return [
        textwrap.dedent(block) for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    ]


def published_r50x1(cache: Path) -> None:
    """A BiT-M-R50x1.npz in the official layout (random values) put into the weights
    cache by hand, as the README tells users without internet to do."""
    from bit_finetune.bit.classifier import build_classifier
    from bit_finetune.bit.npz import save_npz

    cache.mkdir()
    save_npz(build_classifier("R50x1", 2).get_layer("backbone"), str(cache / "BiT-M-R50x1.npz"))


@pytest.mark.slow
def test_the_own_data_recipe_runs_as_written(tmp_path: Path, image_folder):
    """After the Quick start's project, a user follows "Your own data": makes the
    environment, (on a GPU) runs the HyperRule as derived, (on a CPU) the linear probe."""
    make, gpu, cpu = own_data_commands()
    assert gpu.strip() == "kedro run --env myimages"
    project = tmp_path / "project"
    copy_project(project)
    photos = image_folder(
        tmp_path / "photos", classes=("cat", "dog", "owl"), per_class=10, sizes=(100, 160)
    )
    published_r50x1(tmp_path / "weights")
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "BIT_FINETUNE_CACHE": str(tmp_path / "weights"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
    }

    def shell(commands: str) -> str:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", commands],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout + done.stderr

    shell(make.replace("/data/my_images", str(photos)))
    data = project / "data/myimages"
    # The GPU recipe's data stages (no GPU here for R50x1 at 480x480): the rule's own values.
    shell(
        gpu.replace(
            "--env myimages", "--env myimages --pipelines ingestion,profiling,filtering,hyperrule"
        )
    )
    derived = json.loads((data / "05_model_input/hyperrule.json").read_text())
    assert derived["overrides"] == {}
    assert (derived["resize_size"], derived["crop_size"], derived["batch_size"]) == (512, 480, 512)
    (record,) = (data / "08_reporting/run_record.json").glob("*/run_record.json")
    training = json.loads(record.read_text())["parameters"]["training"]
    assert training["model"]["weights"] == "BiT-M-R50x1"
    assert training["augment"] == {"random_crop": True, "random_flip": True}
    assert {"deterministic", "steps_per_call", "cluster_start_timeout"} <= set(training)

    log = shell(cpu)
    assert "Fine-tuning the head only" in log
    recipe = json.loads((data / "05_model_input/hyperrule.json").read_text())
    assert (recipe["resize_size"], recipe["crop_size"]) == (160, 128)
    assert recipe["overrides"]["crop_size"]["reason"].startswith("a CPU")
    metrics = json.loads((data / "08_reporting/metrics.json").read_text())
    assert 0 <= metrics["test"]["top1"] <= 1
    assert (data / "08_reporting/report.md").exists()
    assert (data / "06_models/serving/saved_model.pb").exists()
    assert not (project / "data/08_reporting").exists()  # nothing of the embedded default's
