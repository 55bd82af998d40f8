"""Experiment tracking: what a run records in MLflow.

kedro-mlflow (the ``mlflow`` extra) starts one MLflow run per ``kedro run``, logs the
parameters the nodes read and ends the run; this module adds the rest while that run is
active: its name and tags, the HyperRule's values, the dataset's size, the precision
training chose, the step metrics as training logs them, the final scores, the artefacts
and the classifier as an MLflow model. :func:`tracked_runs_table` reads the runs back.

Every logging function is a no-op when no MLflow run is active (tracking switched off, the
extra not installed, a worker that is not the chief), and none imports MLflow before
kedro-mlflow has: a run without tracking never loads it.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from bit_finetune.errors import ConfigError, TrackingServerError
from bit_finetune.evaluation.report import HYPERRULE_KEYS
from bit_finetune.runtime.cluster import is_chief

logger = logging.getLogger(__name__)

SWITCH = "BIT_FINETUNE_TRACKING"
ON, OFF = ("on", "1", "true", "yes"), ("off", "0", "false", "no")
STEP_METRICS = ("loss", "accuracy", "learning_rate", "images_per_second", "val_loss", "val_accuracy")
SCORES = ("top1", "top5", "macro_f1")
WORKSPACE_TAG = "bit_finetune.workspace"
RESUMED_TAG = "bit_finetune.resumed_from"
RUN_COLUMNS = [
    "run_id", "run_name", "dataset", "experiment_id", "status", "start_time", "end_time",
]  # fmt: skip
"""The columns every runs table has, even an empty one; ``metrics.<key>``, ``params.<key>``
and ``tags.<key>`` follow, as :func:`mlflow.search_runs` names them."""
PAGE = 1000
INSTALL = 'pip install -e ".[mlflow]"'


def tracking_switched_on() -> bool:
    """Whether ``BIT_FINETUNE_TRACKING`` (default ``off``: installing the extra tracks
    nothing until the user asks) switches tracking on."""
    value = os.environ.get(SWITCH, "off").strip().lower()
    if value not in ON + OFF:
        raise ConfigError(f"{SWITCH}={value!r}: use on or off")
    return value in ON


def tracking_enabled() -> bool:
    """Whether this process tracks its run: switched on, the ``mlflow`` extra installed,
    and the chief of its cluster (or no cluster)."""
    return tracking_switched_on() and is_chief() and bool(importlib.util.find_spec("kedro_mlflow"))


def _active() -> ModuleType | None:
    """MLflow, when kedro-mlflow has imported it and a run is active."""
    mlflow = sys.modules.get("mlflow")
    return mlflow if mlflow is not None and mlflow.active_run() is not None else None


def check_server(uri: str, timeout: float = 10.0) -> None:
    """Raise :class:`TrackingServerError` unless the tracking server at ``uri`` (http or
    https; a local store needs no check) answers MLflow's health check."""
    if not uri.startswith(("http://", "https://")):
        return
    import fsspec

    url = uri.rstrip("/") + "/health"
    try:
        fsspec.filesystem("http", client_kwargs={"timeout": _timeout(timeout)}).cat_file(url)
    except Exception as exc:  # noqa: BLE001 - any failure to answer is the same to the user
        raise TrackingServerError(
            f"mlflow.yml server.mlflow_tracking_uri: {uri} does not answer ({_reason(exc)}); "
            f"start the tracking server, point mlflow_tracking_uri at one that answers, or run "
            f"with {SWITCH}=off. Nothing was run."
        ) from None


def _timeout(seconds: float) -> Any:
    import aiohttp

    return aiohttp.ClientTimeout(total=seconds)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ") if str(exc) else type(exc).__name__


def name_run(env: str, architecture: str, weights: str, kedro_run_id: str | None,
             git_commit: str | None) -> None:
    """Name the active run after the environment, architecture and weights; tag it with
    them, the Kedro run id and the git commit; log which run, experiment and store it is."""
    mlflow = _active()
    if mlflow is None:
        return
    label = weights_label(weights)
    tags = {
        "mlflow.runName": f"{env} {architecture} {label}",
        "bit_finetune.env": env,
        "bit_finetune.architecture": architecture,
        "bit_finetune.weights": label,
        "kedro.run_id": kedro_run_id,
        "mlflow.source.git.commit": git_commit,
    }
    mlflow.set_tags({key: value for key, value in tags.items() if value})
    run = mlflow.active_run().info
    logger.info("MLflow run '%s' (%s) in experiment '%s' of %s", tags["mlflow.runName"],
                run.run_id, mlflow.get_experiment(run.experiment_id).name,
                mlflow.get_tracking_uri())


def _last_run() -> tuple[ModuleType, Any] | None:
    """MLflow and the run that just ended, when kedro-mlflow has imported it."""
    mlflow = sys.modules.get("mlflow")
    run = mlflow.last_active_run() if mlflow is not None else None
    return None if run is None else (mlflow, run)


def mark_killed() -> None:
    """End the run that just ended (as FAILED, by kedro-mlflow) as KILLED instead: it was
    interrupted, with a checkpoint saved for the next run to resume."""
    if found := _last_run():
        mlflow, run = found
        mlflow.MlflowClient().set_terminated(run.info.run_id, "KILLED")


def discard_run(since: float) -> None:
    """Delete the run that just ended without running a node (a misspelt path), and its
    experiment when it has no other run and was made at or after ``since`` (a time.time()):
    a run that did nothing leaves nothing to compare."""
    found = _last_run()
    if found is None or found[1].info.end_time is None:
        return
    mlflow, run = found
    client = mlflow.MlflowClient()
    client.delete_run(run.info.run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    others = client.search_runs([experiment.experiment_id], max_results=1)
    if not others and experiment.creation_time / 1000 >= since:
        client.delete_experiment(experiment.experiment_id)


def weights_label(weights: str) -> str:
    """A short name for the weights: ``random``, a published name, or a file or handle's
    last part (``/cache/BiT-M-R50x1.npz`` -> ``BiT-M-R50x1.npz``), with the model's name
    before a version number (``https://tfhub.dev/google/bit/m-r50x1/1`` -> ``m-r50x1/1``)."""
    parts = weights.rstrip("/").split("/")
    return "/".join(parts[-2:] if parts[-1].isdigit() and len(parts) > 1 else parts[-1:])


def log_hyperrule(hyperrule: Mapping[str, Any]) -> None:
    """The HyperRule's values as ``rule.<key>`` parameters; each override's reason as the
    tag ``rule.<key>.override``."""
    mlflow = _active()
    if mlflow is None:
        return
    mlflow.log_params({f"rule.{key}": _param(hyperrule[key]) for key in HYPERRULE_KEYS})
    overrides = hyperrule.get("overrides") or {}
    mlflow.set_tags(
        {f"rule.{key}.override": str(value.get("reason") or "no reason given")
         for key, value in overrides.items()}
    )


def log_profile(profile_summary: Mapping[str, Any]) -> None:
    """The dataset's size and class count, from the profile, as ``data.*`` parameters."""
    mlflow = _active()
    if mlflow is None:
        return
    splits = profile_summary.get("per_split") or {}
    mlflow.log_params(
        {
            "data.images": profile_summary["examples"],
            "data.decodable": profile_summary["decodable"],
            "data.classes": len(profile_summary.get("per_class") or {}),
            **{f"data.{split}_images": count for split, count in splits.items()},
        }
    )


def log_scores(metrics: Mapping[str, Any]) -> None:
    """The evaluation's top-1, top-5 and macro F1 per split, as ``<split>.<score>``."""
    mlflow = _active()
    if mlflow is None:
        return
    mlflow.log_metrics(
        {f"{split}.{score}": float(values[score])
         for split, values in metrics.items() if split != "model"
         for score in SCORES if score in values}
    )


def log_step(row: Mapping[str, Any]) -> None:
    """One row of the training history as MLflow step metrics (empty columns left out)."""
    mlflow = _active()
    if mlflow is None:
        return
    mlflow.log_metrics(_step_values(row), step=int(row["step"]))


def _step_values(row: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(row[name]) for name in STEP_METRICS
            if name in row and not math.isnan(row[name])}  # fmt: skip


def log_precision(record: Mapping[str, Any]) -> None:
    """The precision training uses, why, and (when ``auto`` timed it) both candidates'
    images per second, as ``precision.*`` parameters (a precision record of
    :mod:`bit_finetune.runtime.precision`; empty values left out)."""
    mlflow = _active()
    if mlflow is None:
        return
    names = ("chosen", "reason", "cpu_flags", "float32_images_per_second",
             "bfloat16_images_per_second")
    values = {f"precision.{name}": _param(record.get(name)) for name in names}
    values = {key: round(value, 1) if isinstance(value, float) else value
              for key, value in values.items()}
    mlflow.log_params({key: value for key, value in values.items() if value not in (None, "")})


def start_training(workspace: Path, start: int, history: pd.DataFrame) -> None:
    """Tie the active run to the recipe's ``workspace``. A training that resumes (or
    restores) at step ``start`` > 0 links the run that trained there last
    (``bit_finetune.resumed_from``; a run a kill left RUNNING is marked KILLED) and logs the
    restored ``history``, so the run's curves start at step 1."""
    mlflow = _active()
    if mlflow is None:
        return
    run = mlflow.active_run()
    mlflow.set_tag(WORKSPACE_TAG, workspace.name)
    if start == 0:
        return
    client = mlflow.MlflowClient()
    earlier = [
        found
        for found in client.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.`{WORKSPACE_TAG}` = '{workspace.name}'",
            order_by=["attributes.start_time DESC"],
        )
        if found.info.run_id != run.info.run_id
    ]
    if earlier:
        last = earlier[0].info
        mlflow.set_tag(RESUMED_TAG, last.run_id)
        if last.status == "RUNNING":
            client.set_terminated(last.run_id, "KILLED")
        logger.info("MLflow run %s continues run %s (%s)", run.info.run_id, last.run_id,
                    "killed" if last.status == "RUNNING" else last.status.lower())
    now = int(time.time() * 1000)
    restored = [mlflow.entities.Metric(name, value, now, int(row["step"]))
                for row in history.to_dict("records")
                for name, value in _step_values(row).items()]  # fmt: skip
    if restored:
        client.log_batch(run.info.run_id, metrics=restored)  # in chunks the store accepts


def log_artifact(value: Any, path: str) -> None:
    """An artefact of the run at ``path`` in its artifact store: a figure as PNG, text as
    is, a mapping as JSON, a table as CSV."""
    mlflow = _active()
    if mlflow is None:
        return
    if isinstance(value, str):
        mlflow.log_text(value, path)
    elif isinstance(value, Mapping):
        mlflow.log_dict(dict(value), path)
    elif isinstance(value, pd.DataFrame):
        mlflow.log_text(value.to_csv(index=False), path)
    else:
        mlflow.log_figure(value, path)


def log_classifier(serving: Any, name: str = "classifier") -> None:
    """The exported classifier as an MLflow model (TensorFlow flavour): uint8 images
    ``[N, H, W, 3]`` of any size in, class probabilities out; the label names in its
    metadata. ``mlflow models serve -m runs:/<run id>/classifier`` serves it."""
    mlflow = _active()
    if mlflow is None:
        return
    import mlflow.tensorflow
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    from bit_finetune.serving.export import ProbabilitiesModule

    names = [label.decode() for label in serving.label_names.numpy()]
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, len(names)))]),
    )
    mlflow.tensorflow.log_model(
        ProbabilitiesModule(serving),
        name=name,
        signature=signature,
        # A SavedModel needs TensorFlow alone: named here, not inferred by loading the
        # model again in a subprocess (seconds).
        pip_requirements=[f"tensorflow=={version('tensorflow')}"],
        metadata={"label_names": names, "image_size": serving.image_size},
    )


def _param(value: Any) -> Any:
    """A list as numbers separated by spaces, as the command line takes it."""
    return " ".join(str(item) for item in value) if isinstance(value, (list, tuple)) else value


def tracked_runs_table(tracking_uri: str) -> pd.DataFrame:
    """Every run of every active experiment of the MLflow store ``tracking_uri``, one row
    each, read with MLflow's client (no server needed for a SQLite store).

    The columns are :data:`RUN_COLUMNS` (``dataset`` is the experiment's name,
    ``start_time`` and ``end_time`` UTC timestamps, missing while a run is running), then
    ``metrics.<key>`` (each metric's last value), ``params.<key>`` and ``tags.<key>``. A
    store with no runs, or a SQLite file or folder that does not exist yet, is a table with
    no rows; reading never creates one.
    """
    try:
        from mlflow.entities import ViewType
        from mlflow.tracking import MlflowClient
    except ImportError as error:
        raise ConfigError(
            f"tracked_runs: reading the MLflow store {tracking_uri} needs MLflow; "
            f"install the mlflow extra: {INSTALL}"
        ) from error
    if not _store_exists(tracking_uri):
        return _frame([])
    client = MlflowClient(tracking_uri=_absolute(tracking_uri))
    experiments = _all_pages(client.search_experiments, view_type=ViewType.ACTIVE_ONLY)
    names = {experiment.experiment_id: experiment.name for experiment in experiments}
    runs = (
        _all_pages(client.search_runs, experiment_ids=list(names),
                   run_view_type=ViewType.ACTIVE_ONLY, order_by=["attributes.start_time"])
        if names
        else []
    )  # fmt: skip
    return _frame([_row(run, names) for run in runs])


def _store_exists(uri: str) -> bool:
    """False for a local store (a SQLite file, a folder) that is not there yet: MLflow's
    client would create it. Any other store (a server, a database) is asked."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        if not uri.startswith("sqlite:///"):
            return True
        database = unquote(uri[len("sqlite:///") :].split("?")[0])
        return database in ("", ":memory:") or Path(database).exists()
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).exists()
    if len(parsed.scheme) <= 1:  # a plain path (C:\... too)
        return Path(uri).exists()
    return True


def _absolute(uri: str) -> str:
    """A relative SQLite uri made absolute from the working folder: MLflow keeps one
    store per uri for the whole process, so ``sqlite:///mlruns.db`` would stay the file of
    the folder it was first read from."""
    if not uri.startswith("sqlite:///"):
        return uri
    database, _, query = uri[len("sqlite:///") :].partition("?")
    if database in ("", ":memory:") or Path(unquote(database)).is_absolute():
        return uri
    absolute = Path(unquote(database)).resolve().as_posix()
    return f"sqlite:///{absolute}" + (f"?{query}" if query else "")


def _all_pages(search: Any, **kwargs: Any) -> list[Any]:
    """Every result of an MLflow ``search_*`` call, page after page."""
    results: list[Any] = []
    token = None
    while True:
        page = search(max_results=PAGE, page_token=token, **kwargs)
        results.extend(page)
        token = page.token
        if not token:
            return results


def _row(run: Any, experiments: dict[str, str]) -> dict[str, Any]:
    info, data = run.info, run.data
    return {
        "run_id": info.run_id,
        "run_name": info.run_name or data.tags.get("mlflow.runName"),
        "dataset": experiments.get(info.experiment_id),
        "experiment_id": info.experiment_id,
        "status": info.status,
        "start_time": _time(info.start_time),
        "end_time": _time(info.end_time),
        **{f"metrics.{key}": value for key, value in data.metrics.items()},
        **{f"params.{key}": value for key, value in data.params.items()},
        **{f"tags.{key}": value for key, value in data.tags.items()},
    }


def _time(milliseconds: int | None) -> pd.Timestamp:
    return pd.NaT if milliseconds is None else pd.Timestamp(milliseconds, unit="ms", tz="UTC")


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The runs' rows under the fixed columns, then metrics, params and tags by name."""
    frame = pd.DataFrame(rows, columns=None if rows else RUN_COLUMNS)
    prefixes = ("metrics.", "params.", "tags.")
    extra = sorted(
        (column for column in frame.columns if column not in RUN_COLUMNS),
        key=lambda column: (prefixes.index(column.split(".")[0] + "."), column),
    )
    frame = frame.reindex(columns=[*RUN_COLUMNS, *extra])
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.reset_index(drop=True)
