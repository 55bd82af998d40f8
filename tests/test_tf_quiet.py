"""TensorFlow's native start-up notices stay off the console; any other line still reaches it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_project import copy_project, kedro

from bit_finetune.tf_quiet import OPT_OUT, is_notice

NOTICES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    (b"I0000 00:00:1795951058.407944   29647 port.cc:153] oneDNN custom operations are on. You "
     b"may see slightly different numerical results due to floating-point round-off errors "
     b"from different computation orders. To turn them off, set the environment variable "
     b"`TF_ENABLE_ONEDNN_OPTS=0`."),
    (b"I0000 00:00:1795951058.409960   29647 cudart_stub.cc:31] Could not find cuda drivers on "
     b"your machine, GPU will not be used."),
    (b"I0000 00:00:1795951160.292840   30978 cpu_feature_guard.cc:227] This TensorFlow binary "
     b"is optimized to use available CPU instructions in performance-critical operations."),
    (b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
     b"TensorFlow with the appropriate compiler flags."),
    (b"E0000 00:00:1795951069.446327   29647 cuda_platform.cc:52] failed call to cuInit: "
     b"INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"),
    (b"E0000 00:00:1712267574.801377  681831 cuda_fft.cc:467] Unable to register cuFFT "
     b"factory: Attempting to register factory for plugin cuFFT when one has already been "
     b"registered"),
    (b"2023-07-31 09:33:52.370130: I tensorflow/core/util/port.cc:110] oneDNN custom "
     b"operations are on."),
]
OTHER_LINES = [
    (b"E0000 00:00:1795951069.446327   29647 bfc_allocator.cc:485] Allocator (GPU_0_bfc) ran "
     b"out of memory trying to allocate 2.00GiB"),
    (b"F0000 00:00:1795951069.446327   29647 port.cc:153] Check failed: oneDNN custom "
     b"operations are on."),
    b"Traceback (most recent call last):",
    b"oneDNN custom operations are on.",
]


@pytest.mark.parametrize("line", NOTICES)
def test_known_start_up_notices_are_recognised(line: bytes):
    assert is_notice(line + b"\n")


@pytest.mark.parametrize("line", OTHER_LINES)
def test_other_lines_are_not(line: bytes):
    assert not is_notice(line + b"\n")


def stderr_of(code: str, **env: str) -> bytes:
    """What ``python -c code`` writes to file descriptor 2."""
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
        timeout=300, check=True,
    )
    return result.stderr


WRITE_LINES = f"""
import os, sys
from bit_finetune.tf_quiet import start_up_notices_filtered
with start_up_notices_filtered():
    os.write(2, b"".join(line + b"\\n" for line in {NOTICES + OTHER_LINES!r}))
    print("from python", file=sys.stderr)
"""


def test_only_the_notices_are_dropped_from_native_output():
    lines = stderr_of(WRITE_LINES, **{OPT_OUT: "0"}).splitlines()
    assert lines == [*OTHER_LINES, b"from python"]


def test_the_opt_out_leaves_every_line():
    lines = stderr_of(WRITE_LINES, **{OPT_OUT: "1"}).splitlines()
    assert lines == [*NOTICES, *OTHER_LINES, b"from python"]


IMPORT_TENSORFLOW = """
import os, sys
from bit_finetune.tf_quiet import quiet_tensorflow_start_up
quiet_tensorflow_start_up()
import keras  # imports TensorFlow: its first import, wherever it happens, is quiet
import tensorflow as tf
assert tf.__spec__.loader is tf.__loader__ and "Quiet" not in type(tf.__loader__).__name__
assert not any("Quiet" in type(finder).__name__ for finder in sys.meta_path)
tf.config.list_physical_devices("GPU")
os.write(2, b"E0000 00:00:1.0 1 real.cc:1] a real error\\n")
"""


def test_tensorflow_starts_without_notices():
    raw = stderr_of(IMPORT_TENSORFLOW, **{OPT_OUT: "1"}).splitlines(keepends=True)
    if not any(is_notice(line) for line in raw):
        pytest.skip("this TensorFlow build prints no start-up notice")
    quiet = stderr_of(IMPORT_TENSORFLOW, **{OPT_OUT: ""}).splitlines(keepends=True)
    assert [line for line in quiet if is_notice(line)] == []
    assert b"E0000 00:00:1.0 1 real.cc:1] a real error\n" in quiet


@pytest.mark.slow
def test_kedro_run_console_has_no_tensorflow_notices(tmp_path: Path):
    copy_project(tmp_path)
    result = kedro(["run", "--pipelines", "ingestion"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    console = (result.stdout + result.stderr).encode().splitlines(keepends=True)
    assert [line for line in console if is_notice(line)] == []
    assert "Pipeline execution completed" in result.stdout + result.stderr
