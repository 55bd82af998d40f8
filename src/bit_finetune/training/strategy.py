"""Choice of distribution strategy, mixed precision and XLA for the machine at hand."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Literal

import keras
import tensorflow as tf

from bit_finetune.config import ConfigError

logger = logging.getLogger(__name__)

Accelerator = Literal["tpu", "gpu", "cpu"]
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
POLICIES = {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def tf_config() -> dict:
    """The parsed ``TF_CONFIG`` environment variable ({} when unset or empty)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    return json.loads(raw) if raw else {}


def is_chief(config: Mapping | None = None) -> bool:
    """Whether this process is the chief: no cluster, task ``chief``, or worker 0 of a
    cluster without a chief."""
    config = tf_config() if config is None else config
    task = config.get("task") or {}
    if not config.get("cluster") or not task:
        return True
    kind, index = task.get("type"), int(task.get("index", 0))
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in config["cluster"])


def _tpu_resolver() -> tf.distribute.cluster_resolver.TPUClusterResolver | None:
    try:
        return tf.distribute.cluster_resolver.TPUClusterResolver()
    except (ValueError, RuntimeError, tf.errors.NotFoundError):
        return None


def _tpu() -> tf.distribute.TPUStrategy:
    resolver = _tpu_resolver()
    if resolver is None:
        raise ConfigError(
            "training.strategy: 'tpu' but no TPU was found; set TPU_NAME or run on a "
            "TPU VM, or use strategy 'auto'"
        )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _multi_worker() -> tf.distribute.MultiWorkerMirroredStrategy:
    if not tf_config():
        logger.warning(
            "training.strategy: multi_worker without TF_CONFIG runs as a single worker; "
            "set TF_CONFIG on every worker to train on a cluster"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def _mirrored() -> tf.distribute.MirroredStrategy:
    """Mirror over all local GPUs, or over all logical CPU devices when there is no GPU."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in devices])


def _one_device() -> tf.distribute.OneDeviceStrategy:
    return tf.distribute.OneDeviceStrategy(
        "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"
    )


BUILDERS = {
    "default": tf.distribute.get_strategy,
    "one_device": _one_device,
    "mirrored": _mirrored,
    "multi_worker": _multi_worker,
    "tpu": _tpu,
}


def auto_strategy_name() -> str:
    """What ``auto`` means here: ``tpu`` when a TPU is reachable, else ``multi_worker``
    when ``TF_CONFIG`` is set, else ``mirrored`` over several GPUs, ``one_device`` on one
    GPU, and TensorFlow's ``default`` strategy otherwise."""
    if _tpu_resolver() is not None:
        return "tpu"
    if tf_config():
        return "multi_worker"
    gpus = len(tf.config.list_physical_devices("GPU"))
    return "mirrored" if gpus > 1 else "one_device" if gpus == 1 else "default"


def choose_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The ``training.strategy`` setting as a strategy (see :func:`auto_strategy_name`)."""
    if name not in STRATEGIES:
        raise ConfigError(
            f"training.strategy: {name!r} is not allowed; choose one of {list(STRATEGIES)}"
        )
    kind = auto_strategy_name() if name == "auto" else name
    strategy = BUILDERS[kind]()
    logger.info("Strategy %s with %d replica(s)", kind, strategy.num_replicas_in_sync)
    return strategy


def accelerator(strategy: tf.distribute.Strategy) -> Accelerator:
    """The kind of device the strategy computes on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "tpu"
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy: ops go to the first GPU when there is one
        devices = [d.name for d in tf.config.list_logical_devices("GPU")[:1]]
    return "gpu" if any("GPU" in d.upper() for d in devices) else "cpu"


def precision_policy(setting: str, device: Accelerator) -> str:
    """Keras dtype policy for ``training.mixed_precision`` (``auto``: bfloat16 on GPU/TPU)."""
    if setting == "auto":
        return "float32" if device == "cpu" else "mixed_bfloat16"
    if setting not in POLICIES:
        raise ConfigError(
            f"training.mixed_precision: {setting!r} is not allowed; choose one of "
            f"{['auto', *POLICIES]}"
        )
    return POLICIES[setting]


def use_xla(setting: str, device: Accelerator) -> bool:
    """Whether to ``jit_compile`` the train step (``auto``: on for GPU/TPU, off on CPU)."""
    if setting == "auto":
        return device != "cpu"
    if setting not in ("on", "off"):
        raise ConfigError(f"training.xla: {setting!r} is not allowed; choose auto, on or off")
    return setting == "on"


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Set Keras' global dtype policy while models are built, then restore the old one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
