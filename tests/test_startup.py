"""The start-up rule (:mod:`bit_finetune.startup`): no TensorFlow where no stage needs it,
not even in the catalog of a full run; TensorFlow's start-up notices kept off the console
while any other line reaches it; no final garbage collection over TensorFlow's heap."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tiny_project import copy_project

from bit_finetune.startup import OPT_OUT, is_notice


def run_python(code: str, cwd: Path | None = None, **variables: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, check=False, cwd=cwd,
                          env={**os.environ, **variables})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_registering_pipelines_and_validating_parameters_do_not_import_tensorflow():
    out = run_python("""
        import sys
        from bit_finetune.config import validate_all
        from bit_finetune.pipeline_registry import register_pipelines
        pipelines = register_pipelines()
        validate_all({"training": {"model": {"architecture": "R50x1"}}})
        validate_all({"training": {"model": {"weights": "BiT-M-R50x1"}}})
        import bit_finetune.bit, bit_finetune.catalog
        print(len(pipelines["__default__"].nodes), "tensorflow" in sys.modules,
              "keras" in sys.modules)
    """)
    nodes, tensorflow, keras = out.split()
    assert int(nodes) > 10
    assert (tensorflow, keras) == ("False", "False")


@pytest.mark.slow
def test_register_layers_imports_the_model_code_and_registers_its_classes():
    out = run_python("""
        import sys
        import keras
        from bit_finetune import bit
        before = keras.saving.get_registered_object("bit_finetune>StandardizedConv2D")
        untouched = "bit_finetune.bit.classifier" not in sys.modules
        bit.register_layers()
        from bit_finetune.bit.layers import StandardizedConv2D
        after = keras.saving.get_registered_object("bit_finetune>StandardizedConv2D")
        print(before is None, untouched, after is StandardizedConv2D)
    """)
    assert out.split() == ["True", "True", "True"]


@pytest.mark.slow
def test_the_heap_is_frozen_at_exit_before_earlier_exit_handlers_run():
    out = run_python("""
        import atexit, gc
        atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))
        from bit_finetune.startup import skip_final_collection
        skip_final_collection()
        skip_final_collection()  # once per process
        print("frozen before exit:", gc.get_freeze_count() > 0)
    """)
    assert out.splitlines() == ["frozen before exit: False", "frozen at exit: True"]


MATERIALISE_THE_CATALOG = """
    import sys
    from pathlib import Path
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path.cwd())
    with KedroSession.create(project_path=Path.cwd()) as session:
        catalog = session.load_context().catalog
        names = sorted(pipelines["__default__"].datasets())
        datasets = {name: catalog.get(name) for name in names}
        types = {type(dataset).__name__ for dataset in datasets.values() if dataset is not None}
        print(sum(dataset is not None for dataset in datasets.values()), sorted(types))
    print("tensorflow" in sys.modules, "keras" in sys.modules)
"""


@pytest.mark.slow
@pytest.mark.parametrize("tracking", ["off", "on"])
def test_the_default_runs_catalog_imports_no_tensorflow(tmp_path: Path, tracking: str):
    """Kedro's runner builds every dataset of the pipeline before the first node, and with
    tracking on kedro-mlflow's hook builds every catalog entry when the catalog is made:
    neither may import TensorFlow (about 5 s), which the first node that needs it imports."""
    copy_project(tmp_path)
    out = run_python(MATERIALISE_THE_CATALOG, cwd=tmp_path, BIT_FINETUNE_TRACKING=tracking)
    materialised, tensorflow = out.strip().splitlines()[-2:]
    count, types = materialised.split(" ", 1)
    assert int(count) > 20
    for kind in ("KerasModelDataset", "SavedModelDataset", "TFRecordShardsDataset"):
        assert kind in types
    assert tensorflow == "False False"


@pytest.mark.slow
def test_every_dataset_type_imports_without_tensorflow():
    out = run_python("""
        import sys
        import bit_finetune.catalog as datasets
        from bit_finetune.catalog import keras_model, markdown, tracked_runs
        print(len(datasets.__all__), "tensorflow" in sys.modules, "keras" in sys.modules,
              "tensorflow_datasets" in sys.modules)
    """)
    assert out.split() == ["10", "False", "False", "False"]


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
from bit_finetune.startup import start_up_notices_filtered
with start_up_notices_filtered():
    os.write(2, b"".join(line + b"\\n" for line in {NOTICES + OTHER_LINES!r}))
    print("from python", file=sys.stderr)
"""


@pytest.mark.slow
def test_only_the_notices_are_dropped_from_native_output():
    lines = stderr_of(WRITE_LINES, **{OPT_OUT: "0"}).splitlines()
    assert lines == [*OTHER_LINES, b"from python"]


@pytest.mark.slow
def test_the_opt_out_leaves_every_line():
    lines = stderr_of(WRITE_LINES, **{OPT_OUT: "1"}).splitlines()
    assert lines == [*NOTICES, *OTHER_LINES, b"from python"]


IMPORT_TENSORFLOW = """
import os, sys
from bit_finetune.startup import quiet_tensorflow_start_up
quiet_tensorflow_start_up()
import keras  # imports TensorFlow: its first import, wherever it happens, is quiet
import tensorflow as tf
assert tf.__spec__.loader is tf.__loader__ and "Quiet" not in type(tf.__loader__).__name__
assert not any("Quiet" in type(finder).__name__ for finder in sys.meta_path)
tf.config.list_physical_devices("GPU")
os.write(2, b"E0000 00:00:1.0 1 real.cc:1] a real error\\n")
"""


@pytest.mark.slow
def test_tensorflow_starts_without_notices():
    raw = stderr_of(IMPORT_TENSORFLOW, **{OPT_OUT: "1"}).splitlines(keepends=True)
    if not any(is_notice(line) for line in raw):
        pytest.skip("this TensorFlow build prints no start-up notice")
    quiet = stderr_of(IMPORT_TENSORFLOW, **{OPT_OUT: ""}).splitlines(keepends=True)
    assert [line for line in quiet if is_notice(line)] == []
    assert b"E0000 00:00:1.0 1 real.cc:1] a real error\n" in quiet
