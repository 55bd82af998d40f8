"""A small MLflow store as the project's tracked `kedro run`s write it: two datasets
(experiments), evaluated runs, a killed run and the run that resumed it, a failed run, and
a deleted experiment whose run no longer counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

START = pd.Timestamp("2025-03-01T10:00:00Z")


@dataclass(frozen=True)
class TrackedRun:
    dataset: str
    architecture: str
    weights: str
    status: str
    minutes: float
    test: tuple[float, float] | None  # top-1, top-5; None: not evaluated
    steps: int = 500
    crop_size: int = 128
    resumed: bool = False  # resumed the run before it

    @property
    def name(self) -> str:
        return f"{self.dataset} {self.architecture} {self.weights}"


RUNS = (
    TrackedRun("digits", "R14x0.25", "random", "FINISHED", 6.0, (0.91, 0.99)),
    TrackedRun("digits", "R50x1", "BiT-M-R50x1", "KILLED", 4.25, None, steps=1000),
    TrackedRun("digits", "R50x1", "BiT-M-R50x1", "FINISHED", 12.5, (0.97, 1.0), steps=1000,
               resumed=True),
    TrackedRun("myimages", "R50x1", "BiT-M-R50x1", "FINISHED", 30.0, (0.8, 0.95),
               crop_size=384),
    TrackedRun("myimages", "R14x0.25", "random", "FAILED", 1.5, None),
)
"""The runs in the order they started, ten minutes apart after the one before ended."""
DELETED = TrackedRun("oldset", "R14x0.25", "random", "FINISHED", 2.0, (0.5, 0.9))
COMPARED = (2, 0, 3)
"""The evaluated runs of :data:`RUNS` (indices) in the comparison's order: by dataset, the
best test top-1 first."""


def write_store(folder: Path) -> tuple[str, list[str]]:
    """``folder/mlruns.db`` with :data:`RUNS` (and :data:`DELETED` in a deleted
    experiment); its uri and the runs' ids, in :data:`RUNS`' order."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlruns.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiments: dict[str, str] = {}
    ids: list[str] = []
    start = START
    for run in (*RUNS, DELETED):
        if run.dataset not in experiments:
            experiments[run.dataset] = client.create_experiment(
                run.dataset, artifact_location=str(folder / "mlartifacts"))
        tags = {"bit_finetune.env": run.dataset, "bit_finetune.architecture": run.architecture,
                "bit_finetune.weights": run.weights}  # fmt: skip
        if run.resumed:
            tags["bit_finetune.resumed_from"] = ids[-1]
        begun = int(start.timestamp() * 1000)
        created = client.create_run(experiments[run.dataset], start_time=begun, tags=tags,
                                    run_name=run.name)  # fmt: skip
        run_id = created.info.run_id
        params = {"rule.total_steps": run.steps, "rule.batch_size": 64,
                  "rule.resize_size": run.crop_size + 32, "rule.crop_size": run.crop_size,
                  "rule.learning_rate": 0.003, "data.classes": 10, "data.images": 1797,
                  "training.model.architecture": run.architecture}  # fmt: skip
        metrics = [Metric("loss", 2.0 / (step + 1), begun + step, step) for step in range(3)]
        metrics += [Metric("validation.top1", 0.5, begun, 0)]
        if run.test is not None:
            metrics += [Metric("test.top1", run.test[0], begun, 0),
                        Metric("test.top5", run.test[1], begun, 0),
                        Metric("test.macro_f1", run.test[0] - 0.01, begun, 0)]  # fmt: skip
        client.log_batch(run_id, metrics=metrics,
                         params=[Param(k, str(v)) for k, v in params.items()],
                         tags=[RunTag("note", "tiny")])  # fmt: skip
        end = start + pd.Timedelta(minutes=run.minutes)
        client.set_terminated(run_id, run.status, end_time=int(end.timestamp() * 1000))
        ids.append(run_id)
        start = end + pd.Timedelta(minutes=10)
    client.delete_experiment(experiments[DELETED.dataset])
    return uri, ids[: len(RUNS)]
