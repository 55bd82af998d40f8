"""A throwaway copy of the project, and a whole-chain run of it small enough for tests.

The copy holds the project's ``pyproject.toml`` and ``conf/`` with an empty ``src/`` (the
package itself is installed), so artefacts land in the copy's ``data/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

TINY_RECIPE = {"resize_size": 32, "crop_size": 32, "total_steps": 6, "warmup_steps": 2,
               "lr_boundaries": "[]"}
"""HyperRule overrides: a few steps on 32x32 digits (seconds on a CPU)."""

TINY_PARAMS = ",".join(
    [
        "hyperrule.batch_size=32",
        *(f"hyperrule.overrides.{key}.value={value}" for key, value in TINY_RECIPE.items()),
        *(f"hyperrule.overrides.{key}.reason=tiny test run" for key in TINY_RECIPE),
        "training.model.architecture=R14x0.25",
        "training.checkpoint_every=3",
        "training.log_every=2",
        "training.mixed_precision=off",  # float32 everywhere, never timed (auto may be)
        *(f"{stage}.progress=false"
          for stage in ("profiling", "preprocessing", "training", "evaluation")),
    ]
)
"""``kedro run --params`` for the tiny whole-chain run."""


def copy_project(target: Path) -> Path:
    """The project's pyproject and conf in ``target``; artefacts land in target/data."""
    shutil.copytree(ROOT / "conf", target / "conf")
    shutil.copy(ROOT / "pyproject.toml", target)
    (target / "src").mkdir()  # the package itself is installed
    return target / "conf"


def variant_environment(
    conf: Path,
    name: str,
    catalog: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> Path:
    """``conf/<name>``: the embedded default (``conf/digits``) with these catalog entries
    and top-level parameter sections replaced, writing to ``data/`` as the default does."""
    env = conf / name
    shutil.copytree(conf / "digits", env)
    for file, changes in (("catalog.yml", catalog), ("parameters.yml", parameters)):
        content = yaml.safe_load((env / file).read_text())
        (env / file).write_text(yaml.safe_dump({**content, **(changes or {})}))
    (env / "globals.yml").write_text("data_folder: data\n")
    return env


def kedro(
    args: list[str],
    cwd: Path,
    timeout: float = 300,
    answer: str | None = None,
    **variables: str,
) -> subprocess.CompletedProcess:
    """``kedro <args>`` in ``cwd`` as a user types it (``answer``: what they type at a
    prompt; ``variables``: more environment variables), telemetry off."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "1000", **variables}
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=timeout, check=False, input=answer,
    )


def recipe_folder(workspaces: Path) -> Path:
    """The one recipe's folder under a ``training_workspace`` root."""
    (folder,) = (p for p in workspaces.iterdir() if (p / "recipe.json").is_file())
    return folder


def tiny_run(target: Path) -> Path:
    """A project copy in ``target`` with every artefact of a tiny ``kedro run``."""
    copy_project(target)
    result = kedro(["run", "--params", TINY_PARAMS], target, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return target
