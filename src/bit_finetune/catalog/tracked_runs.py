"""Kedro dataset for the runs of the project's MLflow store (:mod:`bit_finetune.tracking`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from bit_finetune.catalog.parquet_table import plain
from bit_finetune.catalog.previews import TablePreview, table
from bit_finetune.tracking import RUN_COLUMNS, tracked_runs_table

PREVIEW_COLUMNS = [*RUN_COLUMNS[1:3], "status", "start_time", "metrics.test.top1"]


class TrackedRunsDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only catalog entry for every run of every active experiment in an MLflow
    store, one row per run (:func:`~bit_finetune.tracking.tracked_runs_table`).

    Example catalog entry::

        tracked_runs:
          type: bit_finetune.catalog.tracked_runs.TrackedRunsDataset
          tracking_uri: ${globals:tracking_uri}

    Args:
        tracking_uri: the MLflow store, e.g. ``sqlite:///mlruns.db`` (relative to the
            folder Kedro runs in) or ``http://host:5000``.
        metadata: free-form metadata (e.g. for kedro-viz); ignored by the dataset.
    """

    def __init__(self, tracking_uri: str, metadata: dict[str, Any] | None = None) -> None:
        self._tracking_uri = str(tracking_uri)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        return tracked_runs_table(self._tracking_uri)

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
