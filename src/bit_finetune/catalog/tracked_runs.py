"""The runs of the project's MLflow store as one table, read without a tracking server."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from bit_finetune.catalog.parquet_table import plain
from bit_finetune.catalog.previews import TablePreview, table
from bit_finetune.errors import ConfigError

RUN_COLUMNS = [
    "run_id", "run_name", "dataset", "experiment_id", "status", "start_time", "end_time",
]  # fmt: skip
"""The columns every table has, even an empty one; ``metrics.<key>``, ``params.<key>`` and
``tags.<key>`` follow, as :func:`mlflow.search_runs` names them."""
PREVIEW_COLUMNS = [*RUN_COLUMNS[1:3], "status", "start_time", "metrics.test.top1"]
PAGE = 1000
INSTALL = 'pip install -e ".[mlflow]"'


class TrackedRunsDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only catalog entry for every run of every active experiment in an MLflow
    store, one row per run, read with MLflow's client (no server needed for a SQLite store).

    Example catalog entry::

        tracked_runs:
          type: bit_finetune.catalog.tracked_runs.TrackedRunsDataset
          tracking_uri: ${globals:tracking_uri}

    The table has the columns ``run_id``, ``run_name``, ``dataset`` (the experiment's
    name), ``experiment_id``, ``status``, ``start_time`` and ``end_time`` (UTC timestamps;
    missing while a run is running), then ``metrics.<key>`` (each metric's last value),
    ``params.<key>`` and ``tags.<key>``. A store with no runs, or a SQLite file or folder
    that does not exist yet, loads as a table with no rows; loading never creates one.

    Args:
        tracking_uri: the MLflow store, e.g. ``sqlite:///mlruns.db`` (relative to the
            folder Kedro runs in) or ``http://host:5000``.
        metadata: free-form metadata (e.g. for kedro-viz); ignored by the dataset.
    """

    def __init__(self, tracking_uri: str, metadata: dict[str, Any] | None = None) -> None:
        self._tracking_uri = str(tracking_uri)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        try:
            from mlflow.entities import ViewType
            from mlflow.tracking import MlflowClient
        except ImportError as error:
            raise ConfigError(
                f"tracked_runs: reading the MLflow store {self._tracking_uri} needs MLflow; "
                f"install the mlflow extra: {INSTALL}"
            ) from error
        if not _store_exists(self._tracking_uri):
            return _frame([])
        client = MlflowClient(tracking_uri=_absolute(self._tracking_uri))
        experiments = _all_pages(client.search_experiments, view_type=ViewType.ACTIVE_ONLY)
        names = {experiment.experiment_id: experiment.name for experiment in experiments}
        runs = (
            _all_pages(client.search_runs, experiment_ids=list(names),
                       run_view_type=ViewType.ACTIVE_ONLY, order_by=["attributes.start_time"])
            if names
            else []
        )  # fmt: skip
        return _frame([_row(run, names) for run in runs])

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError(
            f"tracked_runs: the MLflow store {self._tracking_uri} is read-only here; runs are "
            "logged by `kedro run` itself (the mlflow extra), nothing is saved"
        )

    def _describe(self) -> dict[str, Any]:
        return {"tracking_uri": self._tracking_uri}

    def preview(self, nrows: int = 10) -> TablePreview:
        """The latest ``nrows`` runs: name, dataset, status, start and test top-1."""
        runs = self.load().sort_values("start_time", ascending=False).head(nrows)
        columns = [column for column in PREVIEW_COLUMNS if column in runs.columns]
        rows = [[plain(cell) for cell in row] for row in runs[columns].itertuples(index=False)]
        return table(columns, rows)


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
