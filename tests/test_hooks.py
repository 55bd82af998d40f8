"""The project's Kedro hooks, each called as Kedro calls it, on small catalogs of real
datasets: parameters checked first, outputs saved atomically (privately on a worker), one
run at a time, the run record, and what goes to MLflow. Whole runs through these hooks
are in tests/reliability/ and tests/test_tracking.py."""

from __future__ import annotations

import json
import platform
import subprocess
import tempfile
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset

from bit_finetune import hooks, tracking
from bit_finetune.catalog.training_workspace import WorkspaceDataset
from bit_finetune.core.files import StagedLocalFileSystem
from bit_finetune.core.run_lock import LOCK_NAME, RunLock
from bit_finetune.errors import ConfigError, RunLockedError
from bit_finetune.evaluation.report import FIGURES

WORKER = {"cluster": {"worker": ["h0:1", "h1:1"]}, "task": {"type": "worker", "index": 1}}
TABLE = pd.DataFrame({"a": [1, 2]})


def pipeline(*inputs: str, output: str = "table") -> Pipeline:
    """One node reading ``inputs`` and writing ``output``."""
    return Pipeline([node(lambda *args: TABLE, list(inputs), output, name="make")])


@pytest.fixture
def chief(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CONFIG", json.dumps(WORKER))


# ParameterValidationHook


@pytest.mark.parametrize(
    ("inputs", "sections"),
    [
        ({"params:training.model", "params:hyperrule", "tfrecord_shards"},
         {"training", "training.model", "hyperrule"}),
        ({"params:upstream.training.model"},
         {"upstream", "upstream.training", "upstream.training.model"}),
        ({"image_index"}, set()),
        ({"parameters", "params:training"}, None),
    ],
    ids=["keys-and-parents", "namespaced", "no-parameters", "all-parameters"],
)  # fmt: skip
def test_sections_in_use_are_the_parameter_keys_a_pipeline_reads(inputs, sections):
    assert hooks.sections_in_use(inputs) == sections


@pytest.mark.parametrize(("env", "named"), [("mine", "mine"), (None, "default")])
def test_a_pipeline_without_its_image_source_is_refused_naming_the_environment(env, named):
    catalog = DataCatalog({"parameters": MemoryDataset({})})
    plain = pipeline("raw_images", "params:ingestion")
    namespaced = Pipeline(plain, namespace="demo")  # reads demo.raw_images
    for ingestion, raw in [(plain, "raw_images"), (namespaced, r"demo\.raw_images")]:
        with pytest.raises(ConfigError, match=rf"^{raw}: the environment '{named}' has no image"):
            hooks.ParameterValidationHook().before_pipeline_run({"env": env}, ingestion, catalog)


def test_every_section_is_validated_but_weights_only_where_read(tmp_path: Path):
    missing = {"training": {"model": {"weights": str(tmp_path / "BiT-M-R50x1.npz")}}}
    catalog = DataCatalog({"parameters": MemoryDataset(missing)})
    hook = hooks.ParameterValidationHook()
    hook.before_pipeline_run({}, pipeline("params:hyperrule"), catalog)  # does not train
    with pytest.raises(ConfigError, match=r"^training\.model\.weights: '.*' not found"):
        hook.before_pipeline_run({}, pipeline("params:training"), catalog)

    catalog = DataCatalog({"parameters": MemoryDataset({"ingestion": {"seed": "x"}})})
    with pytest.raises(ConfigError, match=r"^ingestion\.seed: expected int"):
        hook.before_pipeline_run({}, pipeline("params:hyperrule"), catalog)  # not read here


def manager_with(*registered: Any) -> Any:
    """Kedro's hook manager with ``registered`` hooks, in that order (pluggy calls the
    last registered first, unless a hook asks to run first or last)."""
    manager = _create_hook_manager()
    for hook in registered:
        manager.register(hook)
    return manager


def test_bad_parameters_stop_the_run_before_it_locks_or_records_anything(chief, tmp_path: Path):
    """Registered in either order, validation runs first: no lock, no run record."""
    for first_registered in (True, False):
        lock = hooks.RunLockHook()
        lock.after_context_created(context(tmp_path, "data"))
        others = [lock, hooks.RunRecordHook()]
        validation = hooks.ParameterValidationHook()
        manager = manager_with(
            *([validation, *others] if first_registered else [*others, validation])
        )
        record = MemoryDataset()
        catalog = DataCatalog({
            "parameters": MemoryDataset({"ingestion": {"seed": "x"}}), "run_record": record,
        })  # fmt: skip
        with pytest.raises(ConfigError, match=r"ingestion\.seed"):
            manager.hook.before_pipeline_run(
                run_params={"project_path": str(tmp_path)},
                pipeline=pipeline("params:ingestion"),
                catalog=catalog,
            )
        assert not record.exists()
        assert not (tmp_path / "data").exists()  # the lock was not taken


def test_a_worker_saves_its_run_record_privately_too(
    worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The record is saved last, once the catalog holds the worker's private copies."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    for outputs_first in (True, False):
        outputs, record = hooks.CatalogOutputsHook(), hooks.RunRecordHook()
        manager = manager_with(*([outputs, record] if outputs_first else [record, outputs]))
        catalog = DataCatalog({
            "parameters": MemoryDataset({}),
            "run_record": JSONDataset(filepath=str(tmp_path / "data/run_record.json")),
        })  # fmt: skip
        manager.hook.before_pipeline_run(
            run_params={"project_path": str(tmp_path)}, pipeline=pipeline(), catalog=catalog
        )
        (private,) = (tmp_path / "tmp").iterdir()
        saved = json.loads((private / "run_record/run_record.json").read_text())
        assert saved["parameters"] == {}
        assert not (tmp_path / "data").exists()
        outputs.after_pipeline_run()


# CatalogOutputsHook


def test_the_chief_saves_the_pipeline_outputs_and_the_run_record_atomically(chief, tmp_path: Path):
    datasets = {
        name: CSVDataset(filepath=str(tmp_path / f"{name}.csv"))
        for name in ("index", "table", "run_record", "elsewhere")
    }
    catalog = DataCatalog(datasets)
    hooks.CatalogOutputsHook().before_pipeline_run({}, pipeline("index"), catalog)
    staged = {name for name, d in datasets.items() if isinstance(d._fs, StagedLocalFileSystem)}
    assert staged == {"table", "run_record"}  # the input and other entries are left alone
    assert all(catalog[name] is dataset for name, dataset in datasets.items())
    catalog.save("table", TABLE)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "table.csv"), TABLE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]  # nothing staged left


@pytest.mark.parametrize("end", ["after_pipeline_run", "on_pipeline_error"])
def test_a_worker_saves_into_a_private_folder_removed_when_the_run_ends(
    worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, end: str
):
    private_root = tmp_path / "tmp"
    private_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_root))
    shared = CSVDataset(filepath=str(tmp_path / "data/table.csv"))
    catalog = DataCatalog({"table": shared, "run_record": MemoryDataset()})
    hook = hooks.CatalogOutputsHook()
    hook.before_pipeline_run({}, pipeline(), catalog)

    (private,) = private_root.iterdir()
    assert private.name.startswith("bit-worker-outputs-")
    assert catalog["table"] is not shared
    catalog.save("table", TABLE)
    assert (private / "table/table.csv").is_file()
    assert not (tmp_path / "data").exists()
    getattr(hook, end)()
    assert list(private_root.iterdir()) == []
    getattr(hook, end)()  # a second end finds nothing to remove


def test_a_private_copy_keeps_the_file_name_type_and_version(tmp_path: Path):
    version = Version(None, "2024-05-01T10.00.00.000Z")
    dataset = CSVDataset(filepath=str(tmp_path / "data/rejected.csv"), version=version)
    workspace = WorkspaceDataset(str(tmp_path / "ws"))
    catalog = DataCatalog({"rejected_images": dataset, "workspace": workspace})
    copies = hooks.private_copies(catalog, ["rejected_images", "workspace"], tmp_path / "private")
    copy = copies["rejected_images"]
    assert type(copy) is CSVDataset
    copy.save(TABLE)
    assert (tmp_path / "private/rejected_images/rejected.csv/2024-05-01T10.00.00.000Z/"
            "rejected.csv").is_file()  # fmt: skip
    assert not (tmp_path / "data").exists()
    assert copies["workspace"].load() == (tmp_path / "private/workspace/ws").resolve()


def test_a_dataset_without_a_path_is_kept_in_memory(tmp_path: Path):
    catalog = DataCatalog({"metrics": MemoryDataset()})
    copy = hooks.private_copies(catalog, ["metrics"], tmp_path)["metrics"]
    assert isinstance(copy, MemoryDataset)
    value = {"top1": 0.5}
    copy.save(value)
    assert copy.load() is value  # assigned, not copied
    assert list(tmp_path.iterdir()) == []


def test_private_copies_save_under_the_folder_as_configured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(
        {
            "report": {"type": "json.JSONDataset", "filepath": "data/08/report.json",
                       "versioned": True},
            "{name}_table": {"type": "pandas.CSVDataset", "filepath": "data/{name}.csv",
                             "save_args": {"index": False}},
            "scratch": {"type": "MemoryDataset"},
        },
        save_version="2024-01-02T03.04.05.678Z",
    )  # fmt: skip
    copies = hooks.private_copies(catalog, ["report", "scores_table", "scratch"], tmp_path)

    assert list(copies) == ["report", "scores_table", "scratch"]
    copies["report"].save({"top1": 0.5})
    copies["scores_table"].save(pd.DataFrame({"score": [1, 2]}))
    saved = tmp_path / "report/report.json/2024-01-02T03.04.05.678Z/report.json"
    assert json.loads(saved.read_text()) == {"top1": 0.5}  # under the run's version
    assert (tmp_path / "scores_table/scores.csv").read_text() == "score\n1\n2\n"
    assert isinstance(copies["scratch"], MemoryDataset)
    assert not Path("data").exists()


# RunLockHook


def context(tmp_path: Path, data_folder: str, **globals_: Any) -> SimpleNamespace:
    return SimpleNamespace(
        config_loader={"globals": {"data_folder": data_folder, **globals_}},
        project_path=tmp_path,
    )


@pytest.mark.parametrize("end", ["after_pipeline_run", "on_pipeline_error"])
def test_the_run_lock_is_held_from_start_to_end(chief, tmp_path: Path, end: str):
    hook = hooks.RunLockHook()
    hook.after_context_created(context(tmp_path, "data/mine"))
    other = RunLock(tmp_path / "data/mine")
    hook.before_pipeline_run({}, pipeline(), DataCatalog())
    assert (tmp_path / "data/mine" / LOCK_NAME).is_file()  # relative to the project
    with pytest.raises(RunLockedError, match="another run is writing these artefacts"):
        other.acquire()
    getattr(hook, end)()
    other.acquire()
    other.release()


@pytest.mark.parametrize(("existed", "nodes_done", "kept"), [
    (False, 0, False), (False, 1, True), (True, 0, True),
])  # fmt: skip
def test_a_run_that_failed_before_any_node_leaves_no_folder_it_made(
    chief, tmp_path: Path, existed: bool, nodes_done: int, kept: bool
):
    folder = tmp_path / "data/misspelt"
    if existed:
        folder.mkdir(parents=True)
    hook = hooks.RunLockHook()
    hook.after_context_created(context(tmp_path, "data/misspelt"))
    hook.before_pipeline_run({}, pipeline(), DataCatalog())
    (folder / "08_reporting").mkdir()
    (folder / "08_reporting/run_record.json").write_text("{}")  # as RunRecordHook saves it
    for _ in range(nodes_done):
        hook.after_node_run()
    hook.on_pipeline_error()
    assert folder.exists() is kept
    assert (tmp_path / "data").is_dir()  # only the environment's own folder goes


def test_the_node_count_starts_again_with_each_run_of_the_process(chief, tmp_path: Path):
    hook = hooks.RunLockHook()  # one hook for every run, as settings.py registers it
    hook.after_context_created(context(tmp_path, "data/first"))
    hook.before_pipeline_run({}, pipeline(), DataCatalog())
    hook.after_node_run()
    hook.after_pipeline_run()
    hook.after_context_created(context(tmp_path, "data/misspelt"))
    hook.before_pipeline_run({}, pipeline(), DataCatalog())
    hook.on_pipeline_error()
    assert (tmp_path / "data/first").is_dir() and not (tmp_path / "data/misspelt").exists()


def test_an_absolute_data_folder_is_locked_where_it_is(chief, tmp_path: Path):
    hook = hooks.RunLockHook()
    hook.after_context_created(context(tmp_path / "project", str(tmp_path / "scratch")))
    hook.before_pipeline_run({}, pipeline(), DataCatalog())
    try:
        assert (tmp_path / "scratch" / LOCK_NAME).is_file()
        assert not (tmp_path / "project").exists()
    finally:
        hook.after_pipeline_run()


def test_a_worker_takes_no_lock(worker, tmp_path: Path):
    hook = hooks.RunLockHook()
    hook.after_context_created(context(tmp_path, "data"))
    hook.before_pipeline_run({}, pipeline(), DataCatalog())
    other = RunLock(tmp_path / "data")
    other.acquire()  # the chief's run on a shared folder is not refused
    other.release()
    hook.after_pipeline_run()


def test_without_a_context_the_lock_hook_does_nothing(chief):
    hook = hooks.RunLockHook()
    hook.before_pipeline_run({}, pipeline(), DataCatalog())
    hook.after_pipeline_run()
    hook.on_pipeline_error()


# RunRecordHook


def test_the_run_record_says_what_produced_the_run(tmp_path: Path):
    run_params = {
        "project_path": str(tmp_path), "env": None, "pipeline_names": ["ingestion"],
        "runtime_params": {"seed": 3}, "runner": object(),
    }  # fmt: skip
    parameters = {"ingestion": {"seed": 3}}
    record = hooks.run_record(run_params, parameters)
    assert record["run"] == {k: v for k, v in run_params.items() if k != "runner"}
    assert record["parameters"] == parameters
    assert record["git_commit"] is None  # tmp_path is no git checkout
    assert record["python"] == platform.python_version()
    assert record["packages"]["kedro"] == metadata.version("kedro")
    assert set(record["packages"]) == set(hooks.RECORDED_PACKAGES)
    assert datetime.fromisoformat(record["started"]).utcoffset().total_seconds() == 0
    json.dumps(record)  # plain data


def test_the_run_record_is_saved_only_where_the_catalog_has_one(tmp_path: Path):
    hook = hooks.RunRecordHook()
    parameters = MemoryDataset({"hyperrule": {}})
    record = MemoryDataset()
    run_params = {"project_path": str(tmp_path), "session_id": "s1"}
    hook.before_pipeline_run(
        run_params, pipeline(), DataCatalog({"parameters": parameters, "run_record": record})
    )
    assert record.load()["run"] == run_params
    assert record.load()["parameters"] == {"hyperrule": {}}
    hook.before_pipeline_run(run_params, pipeline(), DataCatalog({"parameters": parameters}))


def test_git_commit_names_the_checkout_and_its_local_changes(tmp_path: Path):
    assert hooks.git_commit(tmp_path) is None
    assert hooks.git_commit(tmp_path / "missing") is None

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()  # fmt: skip

    git("init", "-q")
    (tmp_path / "file.txt").write_text("one\n")
    git("add", "file.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    head = git("rev-parse", "HEAD")
    assert hooks.git_commit(tmp_path) == head
    (tmp_path / "file.txt").write_text("two\n")
    assert hooks.git_commit(tmp_path) == f"{head}-dirty"


# TrackingHook


class Config(dict):
    """A config loader as the hook reads it: sections by key, and the patterns."""

    def __init__(self, sections: dict[str, Any], patterns: tuple[str, ...]) -> None:
        super().__init__(sections)
        self.config_patterns = {key: ["*"] for key in patterns}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """What the hook asks of :mod:`bit_finetune.tracking`, in order."""
    seen: list[tuple] = []
    for name in ("check_server", "name_run", "log_hyperrule", "log_profile", "log_scores",
                 "log_classifier", "log_artifact"):  # fmt: skip
        monkeypatch.setattr(
            tracking, name, lambda *args, _name=name, **kwargs: seen.append((_name, args, kwargs))
        )
    return seen


@pytest.mark.parametrize(
    ("enabled", "patterns", "checked"),
    [(True, ("mlflow",), True), (False, ("mlflow",), False), (True, (), False)],
    ids=["tracking", "switched-off", "no-mlflow-config"],
)
def test_the_tracking_server_is_checked_when_the_context_is_made(
    calls, monkeypatch, enabled, patterns, checked
):
    monkeypatch.setattr(tracking, "tracking_enabled", lambda: enabled)
    uri = "http://127.0.0.1:5000"
    config = Config(
        {"globals": {"dataset": "flowers"}, "mlflow": {"server": {"mlflow_tracking_uri": uri}}},
        patterns,
    )
    hooks.TrackingHook().after_context_created(SimpleNamespace(config_loader=config))
    assert calls == ([("check_server", (uri,), {})] if checked else [])


@pytest.mark.parametrize(("dataset", "env"), [("flowers", "flowers"), (None, "default")])
def test_the_run_is_named_after_environment_model_and_weights(
    calls, monkeypatch, tmp_path: Path, dataset, env
):
    monkeypatch.setattr(tracking, "tracking_enabled", lambda: True)
    hook = hooks.TrackingHook()
    hook.after_context_created(SimpleNamespace(
        config_loader=Config({"globals": {"dataset": dataset}}, ())
    ))  # fmt: skip
    params = {"training": {"model": {"architecture": "R50x1", "weights": "BiT-M-R50x1"}}}
    catalog = DataCatalog({"parameters": MemoryDataset(params)})
    for run_params, run_id in [({"run_id": "r1", "session_id": "s1"}, "r1"),
                               ({"session_id": "s1"}, "s1")]:  # fmt: skip
        calls.clear()
        hook.before_pipeline_run({**run_params, "project_path": str(tmp_path)}, pipeline(),
                                 catalog)  # fmt: skip
        assert calls == [("name_run", (), {
            "env": env, "architecture": "R50x1", "weights": "BiT-M-R50x1",
            "kedro_run_id": run_id, "git_commit": None,
        })]  # fmt: skip


def test_with_tracking_off_the_run_is_not_named_nor_its_parameters_read(calls, monkeypatch):
    monkeypatch.setattr(tracking, "tracking_enabled", lambda: False)
    monkeypatch.setattr(hooks, "git_commit", lambda path: pytest.fail("git asked"))
    catalog = DataCatalog({"parameters": MemoryDataset({"training": {"model": "not a mapping"}})})
    hooks.TrackingHook().before_pipeline_run({"run_id": "r1"}, pipeline(), catalog)
    assert calls == []


def test_outputs_are_logged_by_their_name_namespaces_aside(calls):
    outputs = {
        "hyperrule": {"crop_size": 128},
        "profile_summary": {"examples": 3},
        "downstream.metrics": {"test": {}},
        "serving_model": "the serving model",
        "run_report": "# Report",
        "upstream.training_curves_plot": "a figure",
        "rejected_images": TABLE,
        "label_map": {"names": ["a"]},  # not tracked
    }
    hooks.TrackingHook().after_node_run(SimpleNamespace(name="n"), outputs)
    assert calls == [
        ("log_hyperrule", ({"crop_size": 128},), {}),
        ("log_artifact", ({"crop_size": 128}, "hyperrule.json"), {}),
        ("log_profile", ({"examples": 3},), {}),
        ("log_artifact", ({"examples": 3}, "profile_summary.json"), {}),
        ("log_scores", ({"test": {}},), {}),
        ("log_artifact", ({"test": {}}, "metrics.json"), {}),
        ("log_classifier", ("the serving model",), {}),
        ("log_artifact", ("# Report", "report/report.md"), {}),
        ("log_artifact", ("a figure", "report/training_curves.png"), {}),
        ("log_artifact", (TABLE, "rejected_images.csv"), {}),
    ]


def test_every_figure_the_report_links_is_tracked_beside_it():
    report = Path(hooks.TRACKED_ARTIFACTS["run_report"]).parent
    figures = {name: hooks.TRACKED_ARTIFACTS[name] for name in hooks.TRACKED_FIGURES}
    assert set(hooks.TRACKED_FIGURES.values()) == set(FIGURES)
    for name, key in hooks.TRACKED_FIGURES.items():
        assert Path(figures[name]) == report / FIGURES[key][1]  # the report's relative link
