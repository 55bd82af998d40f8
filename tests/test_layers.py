"""The package's layers (``[tool.importlinter]`` in pyproject.toml): each imports only
those below it, and the libraries below the catalog know nothing of Kedro."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = "Layers, each importing only those below it"
NO_KEDRO = "The libraries below the catalog know nothing of Kedro"
LINT = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True))"


def lint(project: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``project/src``, with ``project``'s contracts."""
    return subprocess.run([sys.executable, "-c", LINT], cwd=project, capture_output=True,
                          text=True, env={"PYTHONPATH": str(project / "src"), "PATH": ""},
                          timeout=120, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the package and of pyproject.toml, to plant imports in."""
    shutil.copytree(ROOT / "src/bit_finetune", tmp_path / "src/bit_finetune",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def plant(module: Path, statement: str) -> None:
    """An import inside a function at the end of ``module``, as lazy imports are written."""
    with module.open("a") as out:
        out.write(f"\n\ndef _planted() -> None:\n    {statement}\n")


@pytest.mark.slow
def test_the_package_keeps_its_layers(project: Path):
    done = lint(project)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{LAYERS} KEPT" in done.stdout and f"{NO_KEDRO} KEPT" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("module", "statement", "broken"), [
    ("core/files.py", "from bit_finetune.training import loop", [LAYERS]),
    # the catalog imports kedro-datasets: an upward import breaks both
    ("bit/npz.py", "import bit_finetune.catalog", [LAYERS, NO_KEDRO]),
    ("training/loop.py", "from kedro.io import DatasetError", [NO_KEDRO]),
])
def test_a_planted_import_breaks_the_contract(project: Path, module: str, statement: str,
                                              broken: list[str]):
    plant(project / "src/bit_finetune" / module, statement)
    done = lint(project)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    for contract in (LAYERS, NO_KEDRO):
        assert f"{contract} {'BROKEN' if contract in broken else 'KEPT'}" in done.stdout
