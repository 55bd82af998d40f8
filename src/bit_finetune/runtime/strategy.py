"""Choice of distribution strategy, mixed precision, XLA and op determinism for the machine
at hand."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Literal

import tensorflow as tf

from bit_finetune.config import TrainingParams
from bit_finetune.errors import ClusterStartError, ConfigError
from bit_finetune.runtime.cluster import tf_config

logger = logging.getLogger(__name__)

Accelerator = Literal["tpu", "gpu", "cpu"]
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
COORDINATED_JOBS = ("chief", "worker")
"""The jobs of a cluster whose tasks train, and wait for each other at start-up."""


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


def _multi_worker(start_timeout: float) -> tf.distribute.MultiWorkerMirroredStrategy:
    config = tf_config()
    if not config:
        logger.warning(
            "training.strategy: multi_worker without TF_CONFIG runs as a single worker; "
            "set TF_CONFIG on every worker to train on a cluster"
        )
        return tf.distribute.MultiWorkerMirroredStrategy()
    cluster = config.get("cluster") or {}
    _limit_cluster_start(cluster, config.get("task") or {}, start_timeout)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.DeadlineExceededError as exc:
        raise ClusterStartError(_start_failure(cluster, exc, start_timeout)) from exc


def _limit_cluster_start(cluster: Mapping, task: Mapping, timeout: float) -> None:
    """Configure TensorFlow's coordination service as ``MultiWorkerMirroredStrategy`` does,
    plus a start-up barrier of ``timeout`` seconds: without it, the service's leader waits
    forever for a task that never starts. Missed heartbeats (10 s) still detect a task
    that dies later. Uses TensorFlow internals, imported here so that a TensorFlow whose
    internals moved fails only multi-worker runs, with an ImportError."""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    configured = context.context().coordination_service is not None
    if configured or task.get("type") not in COORDINATED_JOBS:
        return
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=f"/job:{_leader_job(cluster)}/replica:0/task:0",
        coordinated_jobs=[
            coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(cluster[job]))
            for job in COORDINATED_JOBS if job in cluster
        ],
        cluster_register_timeout_in_ms=int(timeout * 1000),
    )
    context.context().coordination_service.cluster_register_with_barrier = True


def _leader_job(cluster: Mapping) -> str:
    """The job whose task 0 leads the cluster: the chief when there is one."""
    return "chief" if "chief" in cluster else "worker"


def _start_failure(cluster: Mapping, exc: tf.errors.OpError, timeout: float) -> str:
    """What to tell the user when the cluster did not form within ``timeout`` seconds."""
    waited = (exc.message or "").partition("timed out task names:")[2].split("\n\n")[0]
    tasks = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", waited)

    def name(job: str, index: int) -> str:
        addresses = cluster.get(job) or []
        address = f" ({addresses[index]})" if index < len(addresses) else ""
        return f"{job} {index}{address}"

    if tasks:
        missing = ", ".join(dict.fromkeys(name(job, int(index)) for job, index in tasks))
        problem = f"{missing} never joined"
    else:
        problem = f"the cluster's leader, {name(_leader_job(cluster), 0)}, did not answer"
    return (
        f"training: the cluster in TF_CONFIG did not form within {timeout:g} s "
        f"(training.cluster_start_timeout): {problem}. Start every task listed in "
        "TF_CONFIG with the same command, or raise training.cluster_start_timeout if they "
        "start far apart"
    )


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


def choose_strategy(
    name: str = "auto", cluster_start_timeout: float = TrainingParams.cluster_start_timeout
) -> tf.distribute.Strategy:
    """The ``training.strategy`` setting as a strategy (see :func:`auto_strategy_name`).

    On a cluster, raises :class:`ClusterStartError` naming the missing tasks when not all
    of them start within ``cluster_start_timeout`` seconds of each other.
    """
    if name not in STRATEGIES:
        raise ConfigError(
            f"training.strategy: {name!r} is not allowed; choose one of {list(STRATEGIES)}"
        )
    kind = auto_strategy_name() if name == "auto" else name
    strategy = _multi_worker(cluster_start_timeout) if kind == "multi_worker" else BUILDERS[kind]()
    logger.info("Strategy %s with %d replica(s)", kind, strategy.num_replicas_in_sync)
    return strategy


def worker_devices(strategy: tf.distribute.Strategy) -> list[str]:
    """The devices this worker's replicas compute on (none named for the default strategy
    on a CPU, which places ops itself)."""
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: ops go to the first GPU when there is one
        return [d.name for d in tf.config.list_logical_devices("GPU")[:1]]


def accelerator(strategy: tf.distribute.Strategy) -> Accelerator:
    """The kind of device the strategy computes on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "tpu"
    return "gpu" if any("GPU" in d.upper() for d in worker_devices(strategy)) else "cpu"


def use_xla(setting: str, device: Accelerator) -> bool:
    """Whether to ``jit_compile`` the train step (``auto``: on for GPU/TPU, off on CPU)."""
    if setting == "auto":
        return device != "cpu"
    if setting not in ("on", "off"):
        raise ConfigError(f"training.xla: {setting!r} is not allowed; choose auto, on or off")
    return setting == "on"


def set_op_determinism(enabled: bool) -> None:
    """With ``training.deterministic`` on, make every TensorFlow op deterministic (for the
    rest of the process): runs repeat bit for bit on the same hardware, GPUs included, at
    a speed cost, and an op without a deterministic kernel raises. Off: TensorFlow's
    default, already repeatable on a CPU."""
    if enabled:
        tf.config.experimental.enable_op_determinism()
        logger.info("Deterministic ops on (training.deterministic): slower, but runs repeat "
                    "exactly on the same hardware")


