"""A second `kedro run` in the same project while one is writing its artefacts is refused,
naming the first; once the first is killed, the next run takes its lock over."""

from __future__ import annotations

import re

import pytest
from tiny_project import (
    DATA_PIPELINES,
    KedroProcess,
    as_cli,
    copy_project,
    tiny,
    variant_environment,
)

pytestmark = pytest.mark.slow


def test_a_second_run_is_refused_and_a_killed_runs_lock_taken_over(tmp_path, image_folder):
    images = image_folder(tmp_path / "images", classes=("cat", "dog"), per_class=30)
    project = copy_project(tmp_path / "project")
    variant_environment(project / "conf", "slow", catalog={"raw_images": {
        "type": "reliability.slow_source.SlowImageFolderDataset", "path": str(images),
        "delay": 0.05,
    }})
    command = ["--env", "slow", "--pipelines", DATA_PIPELINES,
               "--params", as_cli(tiny(progress=True))]
    first = KedroProcess(project, command)
    first.wait_for(r"profiling:\s+[1-9]\d?%")

    second = KedroProcess(project, ["--env", "slow", "--pipelines", "ingestion"])
    second.process.wait(timeout=300)
    output = second.output()
    assert second.process.returncode == 1, output
    assert re.search(rf"another run is writing these artefacts \(PID {first.process.pid} on "
                     r"\S+, started \S+: .*kedro run --env slow", output), output
    assert "Traceback" not in output

    first.kill()
    KedroProcess(project, command).finish()  # takes the killed run's lock over
