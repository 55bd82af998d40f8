"""Gradient accumulation: how many examples one replica puts through the model at once.

Each optimiser step still sees the HyperRule's whole batch: a replica's share of it is
cut into equal micro-batches whose gradients are summed before the one update (Group Norm
has no batch statistics, so the update is the full-batch update). ``micro_batch_size:
auto`` picks the largest micro-batch that fits: on an accelerator by trying a forward and
backward pass and halving on an out-of-memory error, on a CPU from the memory available.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable

import keras
import tensorflow as tf

from bit_finetune.errors import ConfigError

logger = logging.getLogger(__name__)

PARAM = "training.micro_batch_size"
# A training step holds each activation for the backward pass, plus the gradients and
# the element-wise temporaries of Group Norm and Weight Standardisation beside it.
STEP_MEMORY_FACTOR = 3
MEMORY_SHARE = 0.5  # of the available memory, for the activations of one micro-batch


def divisors(batch: int) -> list[int]:
    """Every micro-batch that splits ``batch`` evenly, largest first."""
    return [d for d in range(batch, 0, -1) if batch % d == 0]


def halvings(batch: int) -> list[int]:
    """The micro-batches ``auto`` tries on an accelerator: ``batch``, then each time the
    largest divisor of ``batch`` at most half the last one, down to 1."""
    sizes, tried = divisors(batch), [batch]
    while tried[-1] > 1:
        tried.append(next(d for d in sizes if d <= tried[-1] // 2))
    return tried


def checked(size: int, per_replica_batch: int, replicas: int) -> int:
    """A micro-batch set by the user, or a :class:`ConfigError` saying which would do."""
    if per_replica_batch % size:
        raise ConfigError(
            f"{PARAM}: {size} does not split the batch of each replica, {per_replica_batch} "
            f"(hyperrule.batch_size {per_replica_batch * replicas} over {replicas} "
            f"replica(s)); use one of {divisors(per_replica_batch)} or 'auto'"
        )
    return size


def largest_that_runs(batch: int, try_step: Callable[[int], object]) -> int:
    """The first of :func:`halvings` for which ``try_step(size)`` does not run out of
    memory (TensorFlow's ``ResourceExhaustedError``); every attempt is logged."""
    for size in halvings(batch):
        try:
            try_step(size)
        except tf.errors.ResourceExhaustedError:
            logger.info("Micro-batch %d per replica ran out of memory; halving", size)
            continue
        logger.info("Micro-batch %d per replica fits (tried %s)", size, _tried(batch, size))
        return size
    raise ConfigError(
        f"{PARAM}: not even one example per replica fits in the accelerator's memory; "
        "use a smaller hyperrule.crop_size or training.model.architecture"
    )


def _tried(batch: int, chosen: int) -> str:
    sizes = halvings(batch)
    return ", ".join(str(s) for s in sizes[: sizes.index(chosen) + 1])


def activation_values(model: keras.Model, crop_size: int) -> int | None:
    """Values one example's forward pass leaves behind at ``crop_size``: the sum of every
    layer output of the backbone (or of ``model`` itself); None when that is not a
    functional Keras graph of its own layers (a wrapped SavedModel, layers shared with
    another model)."""
    graph = model
    if any(layer.name == "backbone" for layer in model.layers):
        graph = model.get_layer("backbone")
    if not isinstance(graph, keras.Model) or not getattr(graph, "inputs", None):
        return None
    outputs = [layer.output for layer in graph.layers if layer.output is not graph.inputs[0]]
    try:
        probe = keras.Model(graph.input, outputs)
    except ValueError:  # a layer's first output belongs to another model's graph
        return None
    specs = probe.compute_output_spec(keras.KerasTensor(example_shape(graph, crop_size)))
    return sum(math.prod(spec.shape[1:]) for spec in keras.tree.flatten(specs))


def example_shape(model: keras.Model, crop_size: int, batch: int = 1) -> tuple[int, ...]:
    """The shape of a batch of ``batch`` inputs of ``model``, images ``crop_size`` square."""
    return (batch, *(crop_size if d is None else d for d in model.inputs[0].shape[1:]))


def available_memory() -> int:
    """Bytes of memory the system can still give (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def largest_that_fits(batch: int, bytes_per_example: int, available: int) -> int:
    """The largest divisor of ``batch`` whose step memory stays within
    ``MEMORY_SHARE`` of ``available`` bytes (at least 1)."""
    budget = available * MEMORY_SHARE
    return next((d for d in divisors(batch) if d * bytes_per_example <= budget), 1)


def cpu_micro_batch(
    model: keras.Model,
    per_replica_batch: int,
    crop_size: int,
    bytes_per_value: int,
    log: bool = True,
) -> int:
    """``auto`` on a CPU: from the estimated step memory per example and the memory
    available; the whole batch when the model's memory cannot be estimated. ``log``:
    say so (INFO)."""
    values = activation_values(model, crop_size)
    if values is None:
        if log:
            logger.info(
                "Micro-batch: the whole batch (%d per replica); this model's memory "
                "is not estimated",
                per_replica_batch,
            )
        return per_replica_batch
    per_example = values * bytes_per_value * STEP_MEMORY_FACTOR
    available = available_memory()
    size = largest_that_fits(per_replica_batch, per_example, available)
    if log:
        logger.info(
            "Micro-batch %d per replica: about %.1f MiB of step memory per example at %d px, "
            "%.1f GiB available",
            size,
            per_example / 2**20,
            crop_size,
            available / 2**30,
        )
    return size
