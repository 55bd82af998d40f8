"""Kedro hooks: validate parameters before any node runs, and record what produced a run."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from bit_finetune.config import validate_all

RECORDED_PACKAGES = (
    "bit_finetune",
    "kedro",
    "kedro-datasets",
    "tensorflow",
    "keras",
    "tensorflow-hub",
    "tensorflow-probability",
    "tensorflow-datasets",
    "numpy",
    "pandas",
    "pillow",
)


class ParameterValidationHook:
    """Fail fast, naming the key and the fix, when a parameter is unknown or invalid."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        validate_all(catalog.load("parameters"))


class RunRecordHook:
    """Save ``run_record``: versions, parameters, seeds, the git commit and the command."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if "run_record" not in catalog:
            return
        catalog.save("run_record", run_record(run_params, catalog.load("parameters")))


def run_record(run_params: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """What produced this run, as plain JSON-able data."""
    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": {k: v for k, v in run_params.items() if _plain(v)},
        "parameters": parameters,
        "git_commit": git_commit(Path(run_params.get("project_path") or ".")),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in RECORDED_PACKAGES},
    }


def git_commit(path: Path) -> str | None:
    """The commit checked out at ``path`` (with ``-dirty`` for local changes), if any."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=path, capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict, tuple))
