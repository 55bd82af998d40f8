"""Strategy choice, mixed precision, XLA and chief resolution."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from bit_finetune.errors import ConfigError
from bit_finetune.runtime import precision
from bit_finetune.runtime import strategy as st
from bit_finetune.runtime.cluster import is_chief

TWO_WORKERS = {
    "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
    "task": {"type": "worker", "index": 0},
}


@pytest.fixture
def no_tpu(monkeypatch):
    monkeypatch.setattr(st, "_tpu_resolver", lambda: None)


def gpus(monkeypatch, count: int) -> None:
    real = tf.config.list_physical_devices

    def listing(kind=None):
        return [f"GPU:{i}" for i in range(count)] if kind == "GPU" else real(kind)

    monkeypatch.setattr(tf.config, "list_physical_devices", listing)


@pytest.mark.parametrize(
    ("count", "expected"), [(4, "mirrored"), (2, "mirrored"), (1, "one_device"), (0, "default")]
)
def test_auto_without_cluster_goes_by_gpu_count(monkeypatch, no_tpu, count, expected):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    gpus(monkeypatch, count)
    assert st.auto_strategy_name() == expected


def test_auto_prefers_tpu_then_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))
    gpus(monkeypatch, 2)
    monkeypatch.setattr(st, "_tpu_resolver", lambda: "resolver")
    assert st.auto_strategy_name() == "tpu"
    monkeypatch.setattr(st, "_tpu_resolver", lambda: None)
    assert st.auto_strategy_name() == "multi_worker"


def test_auto_on_a_plain_cpu_is_the_default_strategy(monkeypatch, no_tpu):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    chosen = st.choose_strategy("auto")
    assert chosen is tf.distribute.get_strategy()
    assert st.accelerator(chosen) == "cpu"


def test_explicit_strategies(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert st.choose_strategy("default") is tf.distribute.get_strategy()
    one = st.choose_strategy("one_device")
    assert isinstance(one, tf.distribute.OneDeviceStrategy)
    assert st.accelerator(one) == "cpu"
    mirrored = st.choose_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))


def test_tpu_without_a_tpu_is_a_config_error(no_tpu):
    with pytest.raises(ConfigError, match="training.strategy: 'tpu' but no TPU"):
        st.choose_strategy("tpu")


def test_real_tpu_probe_fails_fast_without_a_tpu():
    assert st._tpu_resolver() is None


def test_unknown_strategy_is_rejected():
    with pytest.raises(ConfigError, match="training.strategy"):
        st.choose_strategy("horovod")


@pytest.mark.parametrize(
    ("setting", "device", "on"),
    [
        ("auto", "cpu", False),
        ("auto", "gpu", True),
        ("auto", "tpu", True),
        ("on", "cpu", True),
        ("off", "gpu", False),
    ],
)
def test_xla(setting, device, on):
    assert st.use_xla(setting, device) is on


def test_bad_precision_and_xla_settings_name_the_key():
    with pytest.raises(ConfigError, match="training.mixed_precision"):
        precision.precision_policy("int8", "gpu")
    with pytest.raises(ConfigError, match="training.xla"):
        st.use_xla("maybe", "gpu")


@pytest.mark.parametrize(
    ("config", "chief"),
    [
        ({}, True),
        (TWO_WORKERS, True),
        ({**TWO_WORKERS, "task": {"type": "worker", "index": 1}}, False),
        (
            {
                "cluster": {"chief": ["a:1"], "worker": ["b:1"]},
                "task": {"type": "chief", "index": 0},
            },
            True,
        ),
        (
            {
                "cluster": {"chief": ["a:1"], "worker": ["b:1"]},
                "task": {"type": "worker", "index": 0},
            },
            False,
        ),
        ({**TWO_WORKERS, "task": {"type": "evaluator", "index": 0}}, False),
    ],
)
def test_is_chief(config, chief):
    assert is_chief(config) is chief


def test_is_chief_reads_tf_config(monkeypatch):
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({**TWO_WORKERS, "task": {"type": "worker", "index": 1}})
    )
    assert is_chief() is False
    monkeypatch.setenv("TF_CONFIG", "")
    assert is_chief() is True
