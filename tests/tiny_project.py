"""The tests' one tiny recipe, throwaway copies of the project, and ways to run them: in
this process (``KedroSession``), as a user types the command, or in a process of their own.

A copy holds the project's ``pyproject.toml`` and ``conf/`` with an empty ``src/`` (the
package itself is installed), so artefacts land in the copy's ``data/``. The session's
staged and trained copies (``tests/conftest.py``) are made with these.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_datasets.matplotlib import MatplotlibDataset
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
DATA_STAGES = ["ingestion", "profiling", "filtering", "hyperrule", "preprocessing"]
"""The stages before training: what the session's staged project has run."""
DATA_PIPELINES = ",".join(DATA_STAGES)
KEDRO_RUN = ("kedro", "run")
NOT_LOADABLE = ("parameters", "raw_images", "prediction_images", "training_workspace")
STEPS = 6
"""The tiny recipe's training steps."""


def tiny(total_steps: int = STEPS, progress: bool = False, **extra: Any) -> dict[str, Any]:
    """The tiny recipe's runtime parameters: a few steps of ``R14x0.25`` on 32x32 digits
    (seconds on a CPU), float32 (never timed), a checkpoint every 2 steps, a log row every
    step. ``extra``: more parameters as ``<stage>__<key>=value``."""
    params: dict[str, Any] = {
        "hyperrule": {"batch_size": 32, "override_reason": "tiny test run", "overrides": {
            "resize_size": 32, "crop_size": 32, "total_steps": total_steps, "warmup_steps": 2,
            "lr_boundaries": [],
        }},
        "training": {"model": {"architecture": "R14x0.25"}, "checkpoint_every": 2,
                     "log_every": 1, "shuffle_buffer": 64, "mixed_precision": "off"},
        "evaluation": {"batch_size": 16},
    }
    for stage in ("profiling", "preprocessing", "training", "evaluation"):
        params.setdefault(stage, {})["progress"] = progress
    for key, value in extra.items():
        stage, name = key.split("__", 1)
        params.setdefault(stage, {})[name] = value
    return params


def as_cli(params: Mapping[str, Any], prefix: str = "") -> str:
    """Nested parameters as the value of ``kedro run --params`` (a list of steps as numbers
    separated by spaces, as a user types it)."""
    items = []
    for key, value in params.items():
        if isinstance(value, Mapping):
            items.append(as_cli(value, f"{prefix}{key}."))
            continue
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, list):
            text = " ".join(map(str, value)) or "[]"
        else:
            text = str(value)
        items.append(f"{prefix}{key}={text}")
    return ",".join(item for item in items if item)


TINY_PARAMS = as_cli(tiny())
"""``kedro run --params`` for the tiny recipe."""


def copy_project(target: Path) -> Path:
    """The project's pyproject and conf in ``target`` (returned); artefacts land in
    target/data."""
    shutil.copytree(ROOT / "conf", target / "conf")
    shutil.copy(ROOT / "pyproject.toml", target)
    (target / "src").mkdir()  # the package itself is installed
    return target


def copy_of(project: Path, target: Path) -> Path:
    """A copy of a project with what its runs wrote (the session's staged or trained one),
    to change without touching the original."""
    return Path(shutil.copytree(project, target, symlinks=True))


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


def run_in_process(project: Path, params: Mapping[str, Any] | None = None,
                   env: str | None = None, **run: Any) -> Any:
    """``kedro run`` in this process (``pipeline_names=[...]``, ``node_names=[...]``...)."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env,
                             runtime_params=dict(params or {})) as session:
        return session.run(**run)


def recipe_folder(workspaces: Path) -> Path:
    """The one recipe's folder under a ``training_workspace`` root."""
    (folder,) = (p for p in workspaces.iterdir() if (p / "recipe.json").is_file())
    return folder


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(KEDRO_DISABLE_TELEMETRY="1", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               COLUMNS="1000")  # log lines unwrapped, so tests can search them
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


class KedroProcess:
    """``kedro run`` in a process of its own, its output (stdout and stderr) in a log."""

    def __init__(self, project: Path, args: list[str], launcher: tuple[str, ...] = KEDRO_RUN,
                 **env: str):
        self.log = project.parent / f"{project.name}-{time.monotonic_ns()}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *launcher, *args], cwd=project, stdout=out,
                stderr=subprocess.STDOUT, env=environment(**env),
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 300) -> re.Match:
        """The first match of ``pattern`` in the output, once it appears."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output())
            if found:
                return found
            assert self.process.poll() is None, (
                f"ended ({self.process.returncode}) before {pattern!r}:\n{self.output()[-4000:]}"
            )
            assert time.monotonic() < deadline, f"no {pattern!r} within {timeout} s"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a lost machine would end it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)
        assert self.process.returncode == -signal.SIGKILL, "it had already ended"

    def finish(self, timeout: float = 600) -> str:
        """Wait for the end; the output of a successful run."""
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        assert self.process.returncode == 0, self.output()[-4000:]
        return self.output()


def files(data: Path) -> dict[str, str]:
    """SHA-256 of every visible file under ``data`` (relative path -> digest)."""
    return {
        str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(data).parts)
    }


def partial_files(data: Path) -> list[str]:
    """Files a save started but did not finish (hidden ``.partial`` files and folders)."""
    return sorted(str(p.relative_to(data)) for p in data.rglob(".*partial*"))


def assert_whole(project: Path, env: str | None = None) -> list[str]:
    """Load every artefact the catalog finds on disk (a half-written one fails to load or
    is not found); return their names."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        catalog = session.load_context().catalog
        found = []
        for name in catalog:
            if name.startswith("params:") or name in NOT_LOADABLE or not catalog.exists(name):
                continue
            dataset = catalog[name]
            if isinstance(dataset, MatplotlibDataset):
                with Image.open(dataset._filepath) as image:  # a cut PNG fails to load
                    image.load()
            else:
                catalog.load(name)
            found.append(name)
    return found
