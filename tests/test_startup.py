"""What starting the project costs: no TensorFlow where no stage needs it, and no final
garbage collection over TensorFlow's heap at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_registering_pipelines_and_validating_parameters_do_not_import_tensorflow():
    out = run_python("""
        import sys
        from bit_finetune.config import validate_all
        from bit_finetune.pipeline_registry import register_pipelines
        pipelines = register_pipelines()
        validate_all({"training": {"model": {"architecture": "R50x1"}}})
        validate_all({"training": {"model": {"weights": "BiT-M-R50x1"}}})
        import bit_finetune.bit, bit_finetune.datasets
        print(len(pipelines["__default__"].nodes), "tensorflow" in sys.modules,
              "keras" in sys.modules)
    """)
    nodes, tensorflow, keras = out.split()
    assert int(nodes) > 10
    assert (tensorflow, keras) == ("False", "False")


def test_model_code_is_imported_on_first_use_and_registers_the_layers():
    out = run_python("""
        import keras
        from bit_finetune import bit
        before = keras.saving.get_registered_object("bit_finetune>StandardizedConv2D")
        bit.register_layers()
        after = keras.saving.get_registered_object("bit_finetune>StandardizedConv2D")
        print(before is None, after is bit.StandardizedConv2D, callable(bit.build_classifier))
    """)
    assert out.split() == ["True", "True", "True"]


def test_the_heap_is_frozen_at_exit_before_earlier_exit_handlers_run():
    out = run_python("""
        import atexit, gc
        atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))
        from bit_finetune.shutdown import skip_final_collection
        skip_final_collection()
        skip_final_collection()  # once per process
        print("frozen before exit:", gc.get_freeze_count() > 0)
    """)
    assert out.splitlines() == ["frozen before exit: False", "frozen at exit: True"]
