"""How every process of the project starts: the one place that configures it.

The rule: **importing the project imports no TensorFlow.** Registering the pipelines
(``kedro run``, ``kedro viz``, ``kedro pipeline list``), validating parameters and
building the catalog (Kedro's runner instantiates every dataset of the pipeline before
its first node) stay TensorFlow-free; TensorFlow is imported by the first node or
dataset load/save that uses it. Importing TensorFlow and Keras takes about 5 s on two CPU
cores: commands that never need them (the data stages, ``kedro viz``, the CLI's checks)
must not pay for it, and a full run pays for it inside the node that needs it, not as
Kedro overhead. How the code keeps the rule:

- catalog dataset types (``bit_finetune.catalog``) import TensorFlow, Keras and
  TensorFlow Datasets inside ``load``, ``save`` and ``preview`` only, never at module
  level, and never subclass a kedro-datasets type that does;
- pipeline nodes import their TensorFlow-bound modules (the model code of
  ``bit_finetune.bit``, ``bit_finetune.training``, ``bit_finetune.evaluation``) inside
  the node body; the ``bit_finetune.bit`` package itself imports none of them;
- shard records are encoded without TensorFlow (``shards/records.py``; also 3x
  faster than ``tf.train.Example``).

``tests/test_startup.py`` guards the rule. What this module configures, once per
process (:func:`configure`, called by ``settings.py`` before Kedro reads the project):

- environment defaults: ``TF_CPP_MIN_LOG_LEVEL=2`` (where TensorFlow still reads it),
  ``KEDRO_DISABLE_TELEMETRY=1``, and MLflow HTTP retries that fail a run against an
  unreachable tracking server in seconds, not minutes; a value already set wins;
- Python warnings no user can act on (OmegaConf's ``register_new_resolver``
  deprecation, triggered by Kedro's config loader, and those of
  :func:`bit_finetune.logs.drop_unactionable_warnings`);
- TensorFlow's start-up notices off the console: TensorFlow 2.21 logs through Abseil
  before anything can configure it, so ``TF_CPP_MIN_LOG_LEVEL`` no longer silences the
  lines printed when it is imported and when it first looks for devices (oneDNN, CUDA
  drivers, CPU instructions, ``cuInit``). :func:`quiet_tensorflow_start_up` makes the
  first ``import tensorflow``, wherever it happens, run with file descriptor 2 captured,
  list the devices, and write back every line that is not one of these notices, so real
  errors still reach stderr. Set ``BIT_FINETUNE_TF_NOTICES=1`` to see the raw lines;
- a quick exit (:func:`skip_final_collection`): at shutdown the interpreter clears every
  module and runs the cycle collector over what is left; with TensorFlow and Keras loaded
  that final collection takes 1-2 s, after all work and output is done. The heap is
  frozen just before, so the collector leaves it to the operating system. Objects are
  still released by reference counting and every exit handler still runs; only objects in
  reference cycles are not finalised, which Python never promises at exit;
- the console log as plain lines when piped (:func:`bit_finetune.logs.
  plain_lines_when_piped`).

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import atexit
import gc
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

OPT_OUT = "BIT_FINETUNE_TF_NOTICES"
"""Environment variable: set to ``1`` to leave TensorFlow's start-up lines untouched."""

_LOG_LINE = rb"(?:[IWE]\d{4} [\d:.]+ +\d+ |\d{4}-\d\d-\d\d [\d:.]+: [IWE] )\S+\] "
"""The prefix of a native log line: Abseil's format, or older TensorFlow's."""

NOTICES = re.compile(
    rb"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written"
    rb" to STDERR"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate"
    rb" compiler flags\."
    rb"|" + _LOG_LINE + rb"(?:"
    rb"oneDNN custom operations are on\."
    rb"|Could not find cuda drivers on your machine, GPU will not be used\."
    rb"|This TensorFlow binary is optimized to use available CPU instructions"
    rb"|failed call to cuInit: "
    rb"|Unable to register cu(?:DNN|FFT|BLAS) factory: "
    rb"|computation placer already registered\."
    rb"|TF-TRT Warning: Could not find TensorRT"
    rb"))"
)
"""Lines TensorFlow prints at start-up that say nothing about this run."""


def is_notice(line: bytes) -> bool:
    """Whether ``line`` is one of TensorFlow's known start-up notices."""
    return NOTICES.match(line) is not None


@contextmanager
def start_up_notices_filtered() -> Iterator[None]:
    """Capture file descriptor 2 in the block; afterwards write back all but the notices.

    Python's ``sys.stderr`` and native code both write to descriptor 2, so nothing else
    is lost, only delayed to the end of the block.
    """
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line for line in capture.read().splitlines(keepends=True)
                if not is_notice(line)
            ]
            if kept:
                with open(2, "wb", closefd=False) as stderr:
                    stderr.write(b"".join(kept))


class _QuietFirstImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``tensorflow`` as the other finders do, and runs its import (then a device
    listing) with the notices filtered. It removes itself once TensorFlow is imported."""

    def __init__(self) -> None:
        self._loader: Any = None

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        self._loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        sys.meta_path.remove(self)
        module.__loader__ = module.__spec__.loader = self._loader
        with start_up_notices_filtered():
            self._loader.exec_module(module)
            # The first device query logs too; listing physical devices does not
            # initialise the runtime, so memory growth and collectives stay configurable.
            module.config.list_physical_devices()


def quiet_tensorflow_start_up() -> None:
    """Filter the start-up notices out of the process's first ``import tensorflow``.

    Nothing is imported now: commands that never use TensorFlow do not pay for it.
    """
    if "tensorflow" not in sys.modules and not any(
        isinstance(finder, _QuietFirstImport) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietFirstImport())


ENVIRONMENT_DEFAULTS = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "KEDRO_DISABLE_TELEMETRY": "1",
    # A tracking server that does not answer fails the run in seconds, not minutes.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
"""Environment variables set for the process unless already set."""

_frozen_at_exit = False


def configure() -> None:
    """Configure this process as the module docstring says (idempotent). ``settings.py``
    calls it before Kedro reads the project's settings."""
    from bit_finetune.logs import drop_unactionable_warnings, plain_lines_when_piped

    for name, value in ENVIRONMENT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # Kedro's config loader calls an OmegaConf function that now warns on every run.
    warnings.filterwarnings(
        "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
    )
    drop_unactionable_warnings()  # also done at the CLI's start (the kedro.init entry point)
    quiet_tensorflow_start_up()
    skip_final_collection()
    plain_lines_when_piped()


def skip_final_collection() -> None:
    """Freeze the heap at exit (once per process, however often it is called).

    Exit handlers run last-registered first: those registered after this call run
    before the freeze, those registered before it (logging's final flush) after it,
    on a heap that is frozen but fully usable.
    """
    global _frozen_at_exit
    if not _frozen_at_exit:
        atexit.register(gc.freeze)
        _frozen_at_exit = True
