"""Shared fixtures: small, valid image folders written on demand. Kedro runs of the tests
(in this process and in subprocesses) log as the project does, but to the console only:
no test writes into the project's info.log. They track nothing in MLflow unless a test
switches tracking on (``BIT_FINETUNE_TRACKING=on``, as tests/test_tracking.py
does): a store per project copy would only slow the suite down.

The session's projects, made once per run (by whichever pytest-xdist worker asks first) and
copied by the tests that need them (``tests/tiny_project.py``): ``staged_project`` (the
data stages run on the embedded digits with the tiny recipe) and ``trained_project`` (the
whole chain run so). A test copies one
(``copy_of``) before it changes anything, and runs only the stages it tests.

Shared here too, by the tests of a library and of the stage that uses it: a folder to
predict on (good images and the broken-image corpus), and the evaluation toy of
tests/evaluation/toy.py (a real shard set and the colour model)."""

from __future__ import annotations

import atexit
import multiprocessing.process
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

if TYPE_CHECKING:  # the toy needs TensorFlow: imported by the fixtures that use it
    import keras

    from bit_finetune.shards.shard_set import ShardSet


def _console_logging() -> str:
    """conf/logging.yml without its file handlers, in a temporary file."""
    config = yaml.safe_load((Path(__file__).parents[1] / "conf/logging.yml").read_text())
    files = [name for name, handler in config["handlers"].items() if "filename" in handler]
    for name in files:
        del config["handlers"][name]
    config["root"]["handlers"] = [h for h in config["root"]["handlers"] if h not in files]
    handle, path = tempfile.mkstemp(prefix="bit-finetune-test-logging-", suffix=".yml")
    with os.fdopen(handle, "w") as out:
        yaml.safe_dump(config, out)
    atexit.register(os.unlink, path)
    return path


os.environ["KEDRO_LOGGING_CONFIG"] = _console_logging()
os.environ["BIT_FINETUNE_TRACKING"] = "off"
# Every progress update as a line in a piped log, so a test can wait for a given step.
os.environ["BIT_FINETUNE_PROGRESS_EVERY"] = "0"

ImageFolderFactory = Callable[..., Path]
SESSION_PROJECTS = ("staged_project", "trained_project")
QUICK_COMMANDS = ("git", "uname")
"""What the run record asks in milliseconds: the commit (``git``), the platform (``uname``,
through ``platform.platform``)."""


def slow_group(item: pytest.Item) -> str:
    """A slow test's pytest-xdist group: its module (``tests.reliability.test_kills``)."""
    return item.nodeid.split("::")[0].removesuffix(".py").replace("/", ".")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each module's slow tests are one group of ``pytest -n 2 --dist loadgroup``
    (pyproject's addopts): one worker runs them one after another, in order, with their
    module's fixtures made once, while the other worker runs other modules; the quick tests
    go one by one to either worker."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group(slow_group(item)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker: every slow test is in its group, or the run stops at once (the
    group is a suffix xdist adds to node ids, which pytest 9.2 no longer reads)."""
    config = session.config
    if not hasattr(config, "workerinput") or not config.getvalue("loadgroup"):
        return
    ungrouped = [item.nodeid for item in session.items if item.get_closest_marker("slow")
                 and not item.nodeid.endswith(f"@{slow_group(item)}")]
    if ungrouped:
        raise pytest.UsageError(f"pytest-xdist did not group the slow tests ({ungrouped[0]}, "
                                f"...): check pyproject's pytest and pytest-xdist versions")


@pytest.fixture(autouse=True)
def _slow_when_it_runs_or_starts(request: pytest.FixtureRequest,
                                 monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tiers say what they are: a test that starts a process (but the run record's
    ``QUICK_COMMANDS``), runs a project's pipeline or uses the session's projects carries
    ``slow``, so that ``pytest -m "not slow"`` stays the quick inner loop. One that does
    not fails, naming what it did."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    from kedro.framework.session import KedroSession

    did = [f"uses {name}" for name in SESSION_PROJECTS if name in request.fixturenames]

    def noted(what: str, original: Callable, unless: Callable = lambda *args: False) -> Callable:
        def call(self, *args, **kwargs):
            if not unless(*args):
                did.append(what)
            return original(self, *args, **kwargs)

        return call

    def quick(command=(), *args) -> bool:  # Popen's args, as subprocess.run passes them
        program = command if isinstance(command, str) else next(iter(command), "")
        return Path(program).name in QUICK_COMMANDS

    monkeypatch.setattr(subprocess.Popen, "__init__",
                        noted("starts a process", subprocess.Popen.__init__, quick))
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start",
                        noted("starts a process", multiprocessing.process.BaseProcess.start))
    monkeypatch.setattr(KedroSession, "run", noted("runs a pipeline", KedroSession.run))
    yield
    assert not did, f"this test {', '.join(sorted(set(did)))}: mark it slow"


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str,
              make: Callable[[Path], None]) -> Path:
    """``<name>/project``, made by ``make`` once for the whole run: the first pytest-xdist
    worker to ask makes it under the run's shared temporary folder while the other waits
    on a lock, then both copy it."""
    import fcntl

    from tiny_project import copy_project

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this run
    project = root / name / "project"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / name / "made").exists():
            make(copy_project(project))
            (root / name / "made").touch()
    return project


@pytest.fixture(scope="session")
def staged_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose data stages (ingestion to preprocessing) ran on the tiny recipe, in
    process. Copy it (``copy_of``) before changing it."""
    from tiny_project import DATA_STAGES, run_in_process, tiny

    return made_once(tmp_path_factory, "staged",
                     lambda project: run_in_process(project, tiny(), pipeline_names=DATA_STAGES))


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project after one whole ``kedro run`` of the tiny recipe, in process: shards,
    models, reports and one run record. Copy it (``copy_of``) before changing it."""
    from tiny_project import run_in_process, tiny

    return made_once(tmp_path_factory, "trained", lambda project: run_in_process(project, tiny()))


def write_image(path: Path, rng: np.random.Generator, size: tuple[int, int]) -> None:
    """An RGB image with a random background and a random rectangle, saved by suffix."""
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    image = Image.new("RGB", size, colour)
    x0, y0 = (int(v) for v in rng.integers(0, [size[0] // 2, size[1] // 2]))
    fill = tuple(int(c) for c in rng.integers(0, 256, 3))
    ImageDraw.Draw(image).rectangle([x0, y0, size[0] - 1, size[1] - 1], fill=fill)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


@pytest.fixture
def image_folder(tmp_path: Path) -> ImageFolderFactory:
    """Factory writing small JPEG/PNG images of varied sizes into class folders.

    ``image_folder(root, classes=("cat", "dog"), per_class=3, splits=(), seed=0,
    formats=("jpg", "png"), sizes=(16, 48))`` writes ``root/<label>/<n>.<ext>``, or
    ``root/<split>/<label>/<n>.<ext>`` for each of ``splits``. ``per_class`` is a count
    for every class or a mapping label -> count. Formats alternate image by image;
    width and height are drawn from ``sizes`` (inclusive). Returns ``root``.
    """

    def make(
        root: Path | None = None,
        classes: Sequence[str] = ("cat", "dog"),
        per_class: int | Mapping[str, int] = 3,
        splits: Sequence[str] = (),
        seed: int = 0,
        formats: Sequence[str] = ("jpg", "png"),
        sizes: tuple[int, int] = (16, 48),
    ) -> Path:
        root = Path(root) if root is not None else tmp_path / "images"
        rng = np.random.default_rng(seed)
        counts = per_class if isinstance(per_class, Mapping) else dict.fromkeys(classes, per_class)
        written = 0
        for prefix in [root / s for s in splits] or [root]:
            for label in classes:
                for n in range(counts[label]):
                    size = tuple(int(v) for v in rng.integers(sizes[0], sizes[1] + 1, 2))
                    extension = formats[written % len(formats)]
                    write_image(prefix / label / f"{n:03d}.{extension}", rng, size)
                    written += 1
        return root

    return make


@pytest.fixture
def predict_folder(tmp_path: Path, image_folder) -> tuple[Path, dict[str, bool]]:
    """Good images at two depths plus the broken-image corpus in a sub-folder.

    Returns the folder and ``{relative path: expected good}``.
    """
    from tests.bad_images import write_corpus

    root = image_folder(tmp_path / "predict", classes=("day1", "day2"), per_class=3, sizes=(16, 40))
    Image.new("RGB", (30, 20), (200, 40, 90)).save(root / "loose.png")
    (root / "notes.txt").write_text("not an image")
    expected = {
        path.relative_to(root).as_posix(): True
        for path in root.rglob("*")
        if path.suffix in {".jpg", ".png"}
    }
    corpus = write_corpus(root / "corpus")
    expected |= {f"corpus/{name}": good for name, good in corpus.items()}
    return root, expected


TEST_MISTAKES = {1: 2, 4: 0, 8: 1}


@pytest.fixture(scope="session")
def toy_splits() -> dict:
    """test: 10 examples, 3 of them mislabelled; validation: 5, all right; train: 4."""
    from tests.evaluation.toy import toys

    return {
        "train": toys("train", 4),
        "validation": toys("validation", 5),
        "test": toys("test", 10, TEST_MISTAKES),
    }


@pytest.fixture(scope="session")
def shards(tmp_path_factory: pytest.TempPathFactory, toy_splits: dict) -> ShardSet:
    """``toy_splits`` written as a real shard set (tests that need other shards define
    their own ``shards``)."""
    from tests.evaluation.toy import write_shards

    return write_shards(tmp_path_factory.mktemp("evaluation") / "shards", toy_splits)


@pytest.fixture(scope="session")
def model() -> keras.Model:
    """The toy's colour model."""
    from tests.evaluation.toy import colour_model

    return colour_model()
