"""Loading models safely: ``.keras`` in Keras safe mode, no pickle anywhere, and weights
that are missing, not a model or the wrong shape fail in one line naming the key.

Model-package level cases are in tests/bit (test_npz.py: missing file, not an npz,
wrong architecture, missing key; test_hub.py: bad SavedModel locations, official BiT
SavedModels of the wrong size); here they go through a pipeline run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import yaml
from kedro.io import AbstractDataset
from reliability import pickle_uses
from tiny_project import copy_of, files, run_in_process, tiny

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.bit.npz import save_npz
from bit_finetune.errors import ConfigError
from tests.bit.conftest import save_official_bit

ROOT = Path(__file__).resolve().parents[2]


def classifier_dataset(filepath: Path) -> AbstractDataset:
    """The base catalog's ``classifier`` entry, at ``filepath``."""
    catalog = yaml.safe_load((ROOT / "conf/base/catalog/06_models.yml").read_text())
    config = {**catalog["classifier"], "filepath": str(filepath)}
    config.pop("metadata", None)
    return AbstractDataset.from_config("classifier", config)


def test_a_keras_file_with_a_lambda_layer_is_refused(tmp_path):
    marker = tmp_path / "payload-ran"
    where = str(marker)
    model = build_classifier("R14x0.25", 2)
    payload = keras.layers.Lambda(lambda x: (open(where, "w").close(), x)[1], name="payload")
    tampered = keras.Model(model.input, payload(model.output), name=model.name)
    dataset = classifier_dataset(tmp_path / "classifier.keras")
    dataset.save(tampered)
    marker.unlink()  # building the model ran it once
    with pytest.raises(Exception, match="(?i)lambda.*safe_mode|safe_mode.*lambda"):
        dataset.load()
    assert not marker.exists()
    keras.saving.load_model(tmp_path / "classifier.keras", safe_mode=False)
    assert marker.exists(), "the payload runs when safe mode is off"


def official_saved_model(tmp: Path, architecture: str = "R14x0.25") -> str:
    """A SavedModel laid out like the TF Hub BiT modules."""
    path = tmp / f"bit-{architecture}"
    save_official_bit(architecture, path)
    return str(path)


@pytest.mark.parametrize("weights", ["random", "bit-saved-model"])
def test_a_genuine_classifier_loads_in_safe_mode(tmp_path, weights):
    source = official_saved_model(tmp_path) if weights == "bit-saved-model" else "random"
    dataset = classifier_dataset(tmp_path / "classifier.keras")
    dataset.save(build_classifier("R14x0.25", 3, weights=source))
    assert dataset.load().output_shape == (None, 3)


@pytest.mark.slow
def test_no_pickle_anywhere_in_the_package():
    sources = sorted((ROOT / "src/bit_finetune").rglob("*.py"))
    assert len(sources) > 20
    # Parsed in a fresh interpreter: late in a long test process, CPython 3.11's ast.parse
    # can fail with "AST constructor recursion depth mismatch" (a CPython bug).
    done = subprocess.run([sys.executable, pickle_uses.__file__, *map(str, sources)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []
    datasets = [line for path in (ROOT / "conf").rglob("*.yml")
                for line in path.read_text().splitlines() if "pickle" in line.lower()]
    assert datasets == []


def test_the_check_finds_pickle(tmp_path):
    bad = tmp_path / "unsafe.py"  # only parsed, never imported
    bad.write_text("import pickle\nimport numpy as np\nnp.load('x.npy', allow_pickle=True)\n"
                   "keras.saving.load_model('m', safe_mode=False)\npd.read_pickle('t')\n")
    assert len(pickle_uses.unsafe_uses(bad)) == 4


@pytest.fixture
def project(staged_project: Path, tmp_path: Path) -> Path:
    return copy_of(staged_project, tmp_path / "project")


def not_a_saved_model(tmp: Path) -> str:
    (tmp / "folder").mkdir(exist_ok=True)
    return str(tmp / "folder")


def not_an_npz(tmp: Path) -> str:
    (tmp / "notes.npz").write_text("these are not weights\n")
    return str(tmp / "notes.npz")


def wrong_shapes(tmp: Path) -> str:
    save_npz(build_classifier("R14x0.5", 2), str(tmp / "BiT-R14x0.5.npz"))
    return str(tmp / "BiT-R14x0.5.npz")


OTHER_SIZE = "holds R14x0.5 weights, but the model is R14x0.25; set R14x0.5"


@pytest.mark.parametrize(
    ("make", "key", "words"),
    [
        (not_a_saved_model, "weights", "neither an .npz file nor a SavedModel directory"),
        (not_an_npz, "weights", "not a readable .npz archive"),
        (wrong_shapes, "architecture", OTHER_SIZE),
        (lambda tmp: official_saved_model(tmp, "R14x0.5"), "architecture", OTHER_SIZE),
    ],
    ids=["folder", "not-a-model", "wrong-shapes", "saved-model-wrong-shapes"],
)
@pytest.mark.slow
def test_unusable_weights_fail_the_run_in_one_line_naming_the_key(
    project, tmp_path, make, key, words
):
    weights = make(tmp_path)
    params = tiny()
    params["training"]["model"]["weights"] = weights
    before = files(project / "data")
    with pytest.raises(ConfigError) as failure:
        run_in_process(project, params, pipeline_names=["training"])
    message = str(failure.value)
    assert message.startswith(f"training.model.{key}:") and "\n" not in message
    assert words in message and weights in message
    assert not (project / "data/06_models/classifier.keras").exists()
    assert {k for k in files(project / "data") if "run_record" not in k} == {
        k for k in before if "run_record" not in k
    }
