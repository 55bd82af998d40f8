"""``kedro workspaces list|clean`` through the real ``kedro`` command, in a project copy
holding workspaces written by hand."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tiny_project import copy_project, kedro

from bit_finetune.training.recipe import workspace_name
from tests.training.hand_made import record, write_workspace

pytestmark = pytest.mark.slow

NOW = time.time()
ROOT = "data/06_models/training"
ASIDE = f"{workspace_name(record())}.20250101T000000"  # moved aside by training.resume: false


@pytest.fixture()
def project(tmp_path) -> Path:
    """A project copy with three workspaces: batch 16 (done, used 3 h ago), moved aside
    (used 2 h ago) and batch 32 (step 4 of 10, used 1 min ago)."""
    copy_project(tmp_path)
    root = tmp_path / ROOT
    write_workspace(root, record(), step=10, used=NOW - 3 * 3600)
    earlier = write_workspace(tmp_path / "earlier", record(), step=6, used=NOW - 2 * 3600)
    earlier.rename(root / ASIDE)
    write_workspace(root, record(batch_size=32), step=4, used=NOW - 60)
    return tmp_path


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def day(seconds: float) -> str:
    """The local date of a time, as the listing shows it."""
    return time.strftime("%Y-%m-%d", time.localtime(seconds))


def names(project: Path) -> list[str]:
    return sorted(p.name for p in (project / ROOT).iterdir())


def test_list_shows_each_workspace_most_recent_first(project):
    header, *rows = ok(kedro(["workspaces", "list"], project)).splitlines()
    assert header.split()[:3] == ["workspace", "step", "last"]
    assert [row.split()[0:3] for row in rows] == [
        ["*", workspace_name(record(batch_size=32)), "4/10"],
        [ASIDE, "6/10", day(NOW - 2 * 3600)],
        [workspace_name(record()), "10/10", day(NOW - 3 * 3600)],
    ]
    assert rows[0].split()[-4:] == ["R14x0.25", "random", "32", "96"]


def test_clean_keeps_the_most_recently_used(project):
    output = ok(kedro(["workspaces", "clean", "--keep", "1", "--yes"], project))
    assert names(project) == [workspace_name(record(batch_size=32))]
    assert ASIDE in output and workspace_name(record()) in output
    assert "Removed 2 workspace(s), freed " in output


def test_clean_asks_first(project):
    before = names(project)
    refused = kedro(["workspaces", "clean"], project, answer="n\n")
    assert refused.returncode == 1 and "Remove these 2 workspace(s)? [y/N]" in refused.stdout
    assert names(project) == before
    ok(kedro(["workspaces", "clean", "--keep", "2"], project, answer="y\n"))
    assert names(project) == sorted(set(before) - {workspace_name(record())})  # the oldest


def test_an_environment_names_its_own_folder(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_workspace(elsewhere, record(batch_size=8), step=0, used=NOW)
    (project / "conf/shared").mkdir()
    (project / "conf/shared/catalog.yml").write_text(yaml.safe_dump({"training_workspace": {
        "type": "bit_finetune.catalog.WorkspaceDataset", "path": str(elsewhere)}}))  # fmt: skip
    (row,) = ok(kedro(["workspaces", "list", "--env", "shared"], project)).splitlines()[-1:]
    assert row.split()[:3] == ["*", workspace_name(record(batch_size=8)), "0/10"]
    (project / "conf/shared/catalog.yml").write_text(yaml.safe_dump({
        "training_workspace": {"type": "bit_finetune.catalog.WorkspaceDataset",
                               "path": str(tmp_path / "none yet")},
        "transfer.training_workspace": {"type": "bit_finetune.catalog.WorkspaceDataset",
                                        "path": str(elsewhere)}}))  # fmt: skip
    empty = ok(kedro(["workspaces", "list", "--env", "shared"], project)).strip()
    assert empty.endswith("the environment's other workspace folders: "
                          "transfer.training_workspace (--dataset)"), empty
    wrong = kedro(["workspaces", "list", "--dataset", "hyperrule"], project)
    assert wrong.returncode == 2 and "'hyperrule' is not a WorkspaceDataset" in wrong.stderr


def test_the_commands_import_no_tensorflow():
    code = "import sys, bit_finetune.cli; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == "False"


BUG = '''
from kedro.io import AbstractDataset


class BrokenSource(AbstractDataset):
    """A source with a bug: loading it fails with an unexpected error."""

    def __init__(self, metadata=None):
        self.metadata = metadata

    def load(self):
        raise RuntimeError("an unexpected failure inside the source")

    def save(self, data):
        raise NotImplementedError

    def _describe(self):
        return {}
'''


def environment(project: Path, name: str, catalog: dict, parameters: str = "") -> None:
    (project / "conf" / name).mkdir()
    (project / "conf" / name / "catalog.yml").write_text(yaml.safe_dump(catalog))
    if parameters:
        (project / "conf" / name / "parameters.yml").write_text(parameters)


def test_expected_errors_are_short_and_bugs_keep_their_traceback(tmp_path: Path):
    project = tmp_path / "project"
    copy_project(project)
    folder = {"type": "bit_finetune.catalog.ImageFolderDataset", "path": str(tmp_path / "none")}
    environment(project, "nowhere", {"raw_images": folder})
    environment(project, "noimages", {"prediction_images": folder})
    environment(project, "buggy", {"raw_images": {"type": "broken_source.BrokenSource"}})
    (tmp_path / "broken_source.py").write_text(BUG)
    cases = [
        (["--params", "training.model.weights=/nonexistent/BiT-M-R50x1.npz"],
         "training.model.weights: '/nonexistent/BiT-M-R50x1.npz' not found"),
        (["--params", "ingestion.sed=3"], "ingestion.sed: unknown parameter"),
        (["--params", "hyperrule.overrides.lr_boundaries=300 six"],
         "hyperrule.overrides.lr_boundaries: expected a list of steps"),
        (["--env", "nowhere"], "raw_images.path: '" + str(tmp_path / "none") + "' does not exist"),
        (["--env", "noimages"], "raw_images: the environment 'noimages' has no image source"),
    ]
    for args, message in cases:
        result = kedro(["run", *args], project)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert f"Error: {message}" in output, output
        assert "Traceback" not in output and len(output.strip().splitlines()) <= 8, output
        assert "Repeat the previous command" not in output, output  # the Error: line alone
        assert "failed with error" not in output, output
    assert not (project / "data/02_intermediate").exists()  # no node ran in any of them
    asked = kedro(["run", *cases[0][0]], project, BIT_FINETUNE_TRACEBACK="1")
    assert "Traceback" in asked.stdout + asked.stderr and cases[0][1] in asked.stderr
    bug = kedro(["run", "--env", "buggy", "--pipelines", "ingestion"], project,
                PYTHONPATH=f"{tmp_path}:{':'.join(sys.path)}")
    assert bug.returncode == 1
    assert "Traceback" in bug.stderr and "an unexpected failure inside the source" in bug.stderr
    assert "Repeat the previous command" in bug.stdout  # a bug keeps Kedro's report
