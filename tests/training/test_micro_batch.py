"""Choosing the micro-batch: halving on out-of-memory errors, and the CPU's estimate."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.errors import ConfigError
from bit_finetune.training import micro_batch


def test_divisors_and_halvings():
    assert micro_batch.divisors(12) == [12, 6, 4, 3, 2, 1]
    assert micro_batch.halvings(512) == [512, 256, 128, 64, 32, 16, 8, 4, 2, 1]
    assert micro_batch.halvings(96) == [96, 48, 24, 12, 6, 3, 1]
    assert micro_batch.halvings(1) == [1]


def out_of_memory_above(limit: int, tried: list[int]):
    """A step that raises TensorFlow's out-of-memory error for more than ``limit`` examples."""

    def step(size: int) -> None:
        tried.append(size)
        if size > limit:
            raise tf.errors.ResourceExhaustedError(None, None, f"OOM allocating for {size}")

    return step


def test_largest_that_runs_halves_until_a_step_fits(caplog):
    tried: list[int] = []
    with caplog.at_level(logging.INFO, logger="bit_finetune.training.micro_batch"):
        assert micro_batch.largest_that_runs(512, out_of_memory_above(100, tried)) == 64
    assert tried == [512, 256, 128, 64]
    assert "Micro-batch 512 per replica ran out of memory; halving" in caplog.text
    assert "Micro-batch 64 per replica fits (tried 512, 256, 128, 64)" in caplog.text


def test_largest_that_runs_keeps_the_whole_batch_when_it_fits():
    tried: list[int] = []
    assert micro_batch.largest_that_runs(96, out_of_memory_above(96, tried)) == 96
    assert tried == [96]


def test_largest_that_runs_stops_with_advice_when_nothing_fits():
    with pytest.raises(ConfigError, match="training.micro_batch_size: not even one example"):
        micro_batch.largest_that_runs(8, out_of_memory_above(0, []))


def test_other_errors_are_not_taken_for_out_of_memory():
    def broken(size: int) -> None:
        raise tf.errors.InvalidArgumentError(None, None, "a bug")

    with pytest.raises(tf.errors.InvalidArgumentError):
        micro_batch.largest_that_runs(8, broken)


def test_a_micro_batch_that_does_not_split_the_batch_is_refused():
    assert micro_batch.checked(32, 128, 4) == 32
    with pytest.raises(ConfigError, match=r"48 does not split .* 128 \(hyperrule.batch_size 512 over 4"):
        micro_batch.checked(48, 128, 4)


def test_largest_that_fits_uses_half_the_available_memory():
    assert micro_batch.largest_that_fits(128, bytes_per_example=10, available=10_000) == 128
    assert micro_batch.largest_that_fits(128, bytes_per_example=100, available=10_000) == 32
    assert micro_batch.largest_that_fits(96, bytes_per_example=100, available=10_000) == 48
    assert micro_batch.largest_that_fits(128, bytes_per_example=10**9, available=10) == 1


def test_activation_values_count_every_backbone_output():
    """The estimate, from shapes alone, equals the values of every layer output of a real
    forward pass of one image."""
    model = build_classifier("R14x0.25", 3)
    backbone = model.get_layer("backbone")
    probe = keras.Model(backbone.inputs, [layer.output for layer in backbone.layers[1:]])
    outputs = probe([np.zeros((1, 40, 40, 3), "float32")])
    assert micro_batch.activation_values(model, 40) == sum(int(np.prod(o.shape)) for o in outputs)


def test_cpu_micro_batch_follows_the_available_memory(monkeypatch, caplog):
    model = build_classifier("R14x0.25", 3)
    per_example = micro_batch.activation_values(model, 64) * 4 * micro_batch.STEP_MEMORY_FACTOR
    monkeypatch.setattr(micro_batch, "available_memory", lambda: 1 << 40)
    assert micro_batch.cpu_micro_batch(model, 128, 64, 4) == 128
    monkeypatch.setattr(micro_batch, "available_memory", lambda: int(per_example * 20))
    with caplog.at_level(logging.INFO, logger="bit_finetune.training.micro_batch"):
        assert micro_batch.cpu_micro_batch(model, 128, 64, 4) == 8
    assert "Micro-batch 8 per replica" in caplog.text


def test_available_memory_is_positive():
    assert micro_batch.available_memory() > 0
