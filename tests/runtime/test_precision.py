"""training.mixed_precision: auto: native-bfloat16 flags, the timed choice on a CPU, and
what a training records of it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import pytest

from bit_finetune.runtime import precision
from bit_finetune.runtime.precision import (
    BFLOAT16,
    FLOAT32,
    choose_precision,
    cpu_bf16_flags,
    time_candidates,
)
from bit_finetune.training import loop
from bit_finetune.training.loop import Trainer
from tests.training.tiny import tiny_data, tiny_model, tiny_params, tiny_recipe

FLAGS = "fpu vme sse sse2 avx2 avx512f avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8"
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: {flags}
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: {flags}
"""
OLD_FLAGS = "fpu vme sse sse2 avx2 avx512f avx512_vnni"


def not_timed() -> dict[str, float]:
    raise AssertionError("timed although it must not be")


def figures(float32: float, bfloat16: float):
    calls: list[int] = []

    def measure() -> dict[str, float]:
        calls.append(1)
        return {FLOAT32: float32, BFLOAT16: bfloat16}

    return measure, calls


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CPUINFO.format(flags=FLAGS), ("avx512_bf16", "amx_bf16")),
        (CPUINFO.format(flags="fpu avx512f avx512_bf16"), ("avx512_bf16",)),
        (CPUINFO.format(flags=OLD_FLAGS), ()),
        ("Features\t: fp asimd bf16 i8mm\n", ()),  # an Arm CPU: not a flag read here
        ("", ()),
    ],
    ids=["sapphire-rapids", "cooper-lake", "skylake", "arm", "empty"],
)
def test_bf16_flags_are_read_from_cpuinfo(text, expected):
    assert cpu_bf16_flags(text) == expected


def test_no_readable_cpuinfo_means_no_flags(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "missing")
    assert cpu_bf16_flags() == ()


def test_auto_on_a_cpu_without_native_bf16_is_float32_untimed(caplog):
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        choice = choose_precision("auto", "cpu", not_timed, cpu_flags=())
    assert (choice.policy, choice.reason, choice.precision) == (FLOAT32, "no native bfloat16",
                                                                "float32")
    assert "no native bfloat16" in caplog.text


@pytest.mark.parametrize(
    ("float32", "bfloat16", "chosen"),
    [(1402.0, 940.0, FLOAT32), (16.4, 20.5, BFLOAT16), (100.0, 102.0, FLOAT32)],
    ids=["float32-faster", "bfloat16-faster", "within-margin"],
)
def test_auto_with_native_bf16_picks_the_faster_timed_candidate(caplog, float32, bfloat16,
                                                                chosen):
    measure, calls = figures(float32, bfloat16)
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        choice = choose_precision("auto", "cpu", measure, cpu_flags=("avx512_bf16", "amx_bf16"))
    assert calls == [1]
    assert (choice.policy, choice.reason) == (chosen, "timed")
    assert choice.record() == {
        "setting": "auto",
        "chosen": precision.PRECISIONS[chosen],
        "policy": chosen,
        "reason": "timed",
        "cpu_flags": ["avx512_bf16", "amx_bf16"],
        "float32_images_per_second": float32,
        "bfloat16_images_per_second": bfloat16,
    }
    line = (f"Precision auto on CPU (avx512_bf16, amx_bf16): float32 {float32:,.0f} img/s, "
            f"bfloat16 {bfloat16:,.0f} img/s -> {precision.PRECISIONS[chosen]}")
    assert line in caplog.text


@pytest.mark.parametrize(
    ("setting", "policy"),
    [("off", "float32"), ("bfloat16", "mixed_bfloat16"), ("float16", "mixed_float16")],
)
@pytest.mark.parametrize("device", ["cpu", "gpu", "tpu"])
def test_a_named_precision_is_never_timed(setting, policy, device):
    choice = choose_precision(setting, device, not_timed, cpu_flags=("amx_bf16",))
    assert (choice.policy, choice.reason) == (policy, "set")


@pytest.mark.parametrize("device", ["gpu", "tpu"])
def test_auto_on_an_accelerator_stays_bfloat16_untimed(device):
    choice = choose_precision("auto", device, not_timed, cpu_flags=())
    assert (choice.policy, choice.reason) == (BFLOAT16, f"auto on {device}")


@pytest.mark.parametrize(
    ("options", "reason"),
    [({"multi_worker": True}, "multi-worker"), ({"deterministic": True}, "deterministic")],
)
def test_auto_is_float32_untimed_where_a_timed_choice_could_differ(caplog, options, reason):
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        choice = choose_precision("auto", "cpu", not_timed, cpu_flags=("amx_bf16",), **options)
    assert (choice.policy, choice.reason) == (FLOAT32, reason)
    assert "Precision auto on CPU (amx_bf16): float32, not timed" in caplog.text


def test_without_a_measure_auto_is_float32():
    assert choose_precision("auto", "cpu", None, cpu_flags=("amx_bf16",)).policy == FLOAT32


def test_a_resumed_training_keeps_the_recorded_choice_on_the_same_cpu():
    flags = ("avx512_bf16", "amx_bf16")
    earlier = choose_precision("auto", "cpu", figures(16.4, 20.5)[0], cpu_flags=flags).record()
    kept = choose_precision("auto", "cpu", not_timed, cpu_flags=flags, earlier=earlier)
    assert (kept.policy, kept.reason, kept.bfloat16_images_per_second) == (BFLOAT16,
                                                                          "resumed", 20.5)
    again = choose_precision("auto", "cpu", not_timed, cpu_flags=flags, earlier=kept.record())
    assert again.policy == BFLOAT16

    measure, calls = figures(1402.0, 940.0)  # another CPU: timed again
    other = choose_precision("auto", "cpu", measure, cpu_flags=("amx_bf16",), earlier=earlier)
    assert (other.policy, calls) == (FLOAT32, [1])
    named = {**earlier, "setting": "bfloat16", "reason": "set"}  # not a timed choice
    assert choose_precision("auto", "cpu", measure, cpu_flags=flags, earlier=named).reason == "timed"


def test_time_candidates_alternates_and_keeps_each_ones_best_round():
    now = [0.0]
    durations = {"a": [1.0, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
                 "b": [2.0, 0.25, 0.3, 0.2, 0.25]}
    order: list[str] = []

    def step(name: str):
        def run() -> None:
            order.append(name)
            now[0] += durations[name].pop(0)
        return run

    speeds = time_candidates({"a": step("a"), "b": step("b")}, {"a": 10, "b": 32},
                             warmup=2, rounds=3, round_seconds=0.3, clock=lambda: now[0])
    # two warm-up steps each; then rounds of 3 steps of a (0.3 s / 0.1 s), 1 of b
    assert order == ["a"] * 2 + ["b"] * 2 + (["a"] * 3 + ["b"]) * 3
    assert speeds == pytest.approx({"a": 10 / 0.1, "b": 32 / 0.2})


def test_trainer_times_both_policies_and_records_the_choice(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("amx_bf16",))
    timed: list[dict] = []

    def fake_timing(steps, images):
        timed.append(dict(images))
        for step in steps.values():  # each candidate's step runs
            step()
        return {FLOAT32: 100.0, BFLOAT16: 150.0}

    monkeypatch.setattr(loop, "time_candidates", fake_timing)
    params = tiny_params(mixed_precision="auto")
    recipe = tiny_recipe(total_steps=4)
    trainer = Trainer(tiny_model, recipe, params, tmp_path)
    assert timed == [{FLOAT32: 16, BFLOAT16: 16}]
    assert trainer.policy == BFLOAT16 and trainer.precision.reason == "timed"
    assert trainer.model.get_layer("head").dtype_policy.name == BFLOAT16
    assert keras.config.dtype_policy().name == "float32"
    trainer.run(tiny_data())
    (record,) = json.loads((Path(tmp_path) / "precision.json").read_text())
    assert record["from_step"] == 1 and record["chosen"] == "bfloat16"
    assert record["float32_images_per_second"] == 100.0

    longer = tiny_recipe(total_steps=6)  # same recipe folder, resumed at step 4: not timed
    monkeypatch.setattr(loop, "time_candidates", lambda *_: not_timed())
    resumed = Trainer(tiny_model, longer, params, tmp_path)
    assert (resumed.policy, resumed.precision.reason) == (BFLOAT16, "resumed")
    resumed.run(tiny_data())
    records = json.loads((Path(tmp_path) / "precision.json").read_text())
    assert [r["from_step"] for r in records] == [1, 5]


def test_the_trainer_times_real_steps_of_each_policy(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    trainer = Trainer(tiny_model, tiny_recipe(), tiny_params(mixed_precision="auto"), tmp_path)
    choice = trainer.precision
    assert choice.reason == "timed" and choice.policy in (FLOAT32, BFLOAT16)
    assert choice.float32_images_per_second > 0 and choice.bfloat16_images_per_second > 0


@pytest.mark.parametrize(
    ("setting", "device", "policy"),
    [
        ("auto", "cpu", "float32"),
        ("auto", "gpu", "mixed_bfloat16"),
        ("auto", "tpu", "mixed_bfloat16"),
        ("off", "gpu", "float32"),
        ("bfloat16", "cpu", "mixed_bfloat16"),
        ("float16", "gpu", "mixed_float16"),
    ],
)
def test_precision_policy(setting, device, policy):
    assert precision.precision_policy(setting, device) == policy


def test_dtype_policy_applies_while_building_and_is_restored():
    before = keras.config.dtype_policy().name
    with precision.dtype_policy("mixed_bfloat16"):
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
    assert layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32"
    assert keras.config.dtype_policy().name == before
