"""Kedro hooks: validate parameters before anything else, save outputs atomically (and,
on a cluster, only on the chief), record what produced a run, and track it in MLflow."""

from __future__ import annotations

import logging
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset

from bit_finetune import tracking
from bit_finetune.catalog.kedro_private import make_saves_atomic
from bit_finetune.config import stage_params, validate_all
from bit_finetune.core.run_lock import RunLock
from bit_finetune.errors import ConfigError, Interrupted, expected
from bit_finetune.evaluation.report import FIGURES
from bit_finetune.runtime.cluster import is_chief

logger = logging.getLogger(__name__)

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
    """Fail fast, naming the key and the fix, when a parameter is unknown or invalid, or
    the environment lacks its image source: first of all, before any artefact (the run
    record included) is written. What a stage needs beyond its parameters (a weights
    file) is checked only when that stage runs."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        inputs = pipeline.inputs()
        for name in sorted(inputs):
            if name.rsplit(".", 1)[-1] == "raw_images" and name not in catalog:
                raise ConfigError(
                    f"{name}: the environment '{run_params.get('env') or 'default'}' has no "
                    "image source; add a raw_images entry to its catalog.yml (an "
                    "ImageFolderDataset or a TFDSDataset, see the README's 'Your own data')"
                )
        validate_all(catalog.load("parameters"), sections_in_use(inputs))


def sections_in_use(inputs: set[str]) -> set[str] | None:
    """The parameter keys a pipeline reads (``params:training.model`` reads ``training``
    and ``training.model``); None when a node reads all of them."""
    if "parameters" in inputs:
        return None
    keys = [name.removeprefix("params:").split(".") for name in inputs if name.startswith("params:")]
    return {".".join(parts[:end]) for parts in keys for end in range(1, len(parts) + 1)}


class CatalogOutputsHook:
    """Where a run's outputs go. On the chief (any single-process run) every file is saved
    atomically (see :mod:`bit_finetune.core.files`). The other workers of a
    multi-worker cluster (``TF_CONFIG``) run the same nodes but write nowhere shared:
    their outputs go to a private temporary folder, deleted when the run ends."""

    def __init__(self) -> None:
        self._private: Path | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        names = sorted(name for name in pipeline.all_outputs() | {"run_record"} if name in catalog)
        if is_chief():
            for name in names:
                make_saves_atomic(catalog[name])
            return
        self._private = Path(tempfile.mkdtemp(prefix="bit-worker-outputs-"))
        for name, dataset in private_copies(catalog, names, self._private).items():
            catalog[name] = dataset
        logger.info("Not the chief of the cluster: outputs go to %s, deleted after the run",
                    self._private)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._remove_private()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._remove_private()

    def _remove_private(self) -> None:
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None


def private_copies(catalog: DataCatalog, names: list[str], folder: Path) -> dict[str, Any]:
    """The datasets ``names`` of ``catalog`` as configured, but saving under ``folder``; a
    memory dataset for one with no path to move. A versioned copy keeps the run's version."""
    for name in names:  # a factory pattern's dataset enters the catalog's config when made
        catalog.get(name)
    config, credentials, _, save_version = catalog.to_config()
    copies: dict[str, Any] = {}
    moved: dict[str, dict[str, Any]] = {}
    for name in names:
        keys = [key for key in ("filepath", "path") if key in config.get(name, {})]
        if not keys:
            copies[name] = MemoryDataset(copy_mode="assign")
            continue
        moved[name] = dict(config[name])
        for key in keys:
            moved[name][key] = str(folder / name / Path(str(moved[name][key])).name)
    private = DataCatalog.from_config(moved, credentials, save_version=save_version)
    return {name: copies[name] if name in copies else private[name] for name in names}


class RunLockHook:
    """One run at a time writes an environment's artefacts (its ``data_folder``): a second
    run is refused, naming the first. The other workers of a cluster write nothing shared
    and take no lock. A run that fails before any node ran (a misspelt path) leaves no data
    folder it made (only the lock and the run record were in it)."""

    def __init__(self) -> None:
        self._lock: RunLock | None = None
        self._nodes_done = 0

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        folder = Path(context.config_loader["globals"]["data_folder"])
        self._lock = RunLock(folder if folder.is_absolute() else context.project_path / folder)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._nodes_done = 0  # the hook serves every run of the process (a notebook's too)
        if self._lock is not None and is_chief():
            self._lock.acquire()

    @hook_impl
    def after_node_run(self) -> None:
        self._nodes_done += 1

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._release()
        if self._lock is not None and self._lock.made_folder and not self._nodes_done:
            shutil.rmtree(self._lock.path.parent, ignore_errors=True)

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()


class RunRecordHook:
    """Save ``run_record``: versions, parameters, seeds, the git commit and the command;
    last, once the run is set up."""

    @hook_impl(trylast=True)
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


# The artefacts an MLflow run keeps, by catalog name: the report beside its figures (as it
# links them), then the tables and JSON.
TRACKED_FIGURES = {
    "resolution_plot": "resolution",
    "class_balance_plot": "class_balance",
    "training_curves_plot": "training_curves",
    "confusion_matrix_plot": "confusion_matrix",
    "mistakes_plot": "worst_mistakes",
}
TRACKED_ARTIFACTS = {
    "run_report": "report/report.md",
    **{name: f"report/{FIGURES[key][1]}" for name, key in TRACKED_FIGURES.items()},
    "hyperrule": "hyperrule.json",
    "metrics": "metrics.json",
    "profile_summary": "profile_summary.json",
    "rejected_images": "rejected_images.csv",
    "training_history": "training_history.csv",
}


class TrackingHook:
    """What an MLflow run records beyond kedro-mlflow's parameters (see
    :mod:`bit_finetune.tracking`): a tracking server is checked before anything
    runs; the run is named once the parameters are known; the HyperRule, the profile, the
    scores, the artefacts and the classifier are logged as their nodes produce them.
    Nothing happens when tracking is off."""

    def __init__(self) -> None:
        self._env = "default"
        self._started = 0.0  # when the session's context was made, before its experiment
        self._nodes_done = 0

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        config = context.config_loader
        self._env = str(config["globals"].get("dataset") or self._env)
        self._started, self._nodes_done = time.time(), 0
        if tracking.tracking_enabled() and "mlflow" in config.config_patterns:
            server = config["mlflow"].get("server") or {}
            tracking.check_server(str(server.get("mlflow_tracking_uri") or ""))

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        if not tracking.tracking_enabled():
            return
        model = stage_params("training", catalog.load("parameters").get("training")).model
        tracking.name_run(
            env=self._env,
            architecture=str(model.architecture),
            weights=model.weights,
            kedro_run_id=run_params.get("run_id") or run_params.get("session_id"),
            git_commit=git_commit(Path(run_params.get("project_path") or ".")),
        )

    @hook_impl(trylast=True)  # after kedro-mlflow's, which ends the run as FAILED
    def on_pipeline_error(self, error: Exception) -> None:
        if not tracking.tracking_enabled():
            return
        if isinstance(expected(error), Interrupted):
            tracking.mark_killed()
        elif not self._nodes_done:
            tracking.discard_run(since=self._started)

    @hook_impl
    def after_node_run(self, node: Any, outputs: dict[str, Any]) -> None:
        self._nodes_done += 1
        for name, value in outputs.items():
            stem = name.rsplit(".", 1)[-1]
            if stem == "hyperrule":
                tracking.log_hyperrule(value)
            elif stem == "profile_summary":
                tracking.log_profile(value)
            elif stem == "metrics":
                tracking.log_scores(value)
            elif stem == "serving_model":
                tracking.log_classifier(value)
            if stem in TRACKED_ARTIFACTS:
                tracking.log_artifact(value, TRACKED_ARTIFACTS[stem])
