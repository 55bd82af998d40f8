"""Mixed precision on a CPU (figure 9): ``training.mixed_precision: auto`` against float32.

For each model, resolution and batch (the embedded default's R14x0.25 at 64x64, batch
128, from ``conf/base/parameters``; BiT R50x1 at 128x128, batch 32), a ``Trainer`` with
``mixed_precision: auto`` decides as ``kedro run`` does (on a CPU with native bfloat16:
by timing a few steps of each policy; the time the decision takes is reported). Then the
same train step (forward, backward, SGD update on one micro-batch of random images, as
the decision times it) is timed longer in float32 and in auto's choice, in turn, best
round of each: ours is auto's choice, the baseline float32. On a CPU without native
bfloat16, auto is float32 and the ratio 1.

    python bench/precision_speed.py [--rounds 4] [--round-seconds 1.5] [--skip-r50]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import bf16_flags, embedded_default, emit, result

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.config import stage_params
from bit_finetune.runtime.precision import FLOAT32, PRECISIONS, time_candidates
from bit_finetune.training.loop import Trainer

CLASSES = 10
R50_SIZE, R50_BATCH = 128, 32
TARGET = 0.95  # auto is never notably slower than float32


def compare(architecture: str, crop: int, batch: int, recipe: dict, rounds: int,
            round_seconds: float) -> tuple[dict, dict[str, float], float]:
    """Auto's choice (its record), the longer measurement by policy, and the seconds the
    trainer took to decide and build."""
    params = stage_params("training", {
        "model": {"architecture": architecture, "weights": "random"}, "strategy": "default",
        "mixed_precision": "auto", "progress": False, "eval_every": None, "resume": False,
    })
    recipe = {**recipe, "resize_size": crop, "crop_size": crop, "batch_size": batch,
              "num_classes": CLASSES}
    with tempfile.TemporaryDirectory() as workspace:
        start = time.perf_counter()
        trainer = Trainer(lambda: build_classifier(architecture, CLASSES, "random"),
                          recipe, params, Path(workspace))
        seconds = time.perf_counter() - start
    chosen = trainer.precision.policy
    policies = list(dict.fromkeys([FLOAT32, chosen]))
    steps, images = {}, {}
    for policy in policies:
        steps[policy], images[policy] = trainer._candidate_step(policy)
    speeds = time_candidates(steps, images, rounds=rounds, round_seconds=round_seconds)
    return trainer.precision.record(), speeds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds per policy")
    parser.add_argument("--round-seconds", type=float, default=1.5, help="seconds per round")
    parser.add_argument("--skip-r50", action="store_true", help="only the embedded default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("bit_finetune.training.micro_batch", "bit_finetune.training.loop",
                 "bit_finetune.runtime.strategy"):
        logging.getLogger(name).setLevel(logging.WARNING)

    flags = ", ".join(bf16_flags()) or "none"
    print(f"{os.cpu_count()} CPU cores, native bfloat16 flags: {flags}, "
          f"load {os.getloadavg()[0]:.1f}")
    architecture, recipe, _ = embedded_default()
    cases = [("9a", architecture, int(recipe["crop_size"]), int(recipe["batch_size"]))]
    if not args.skip_r50:
        cases.append(("9b", "R50x1", R50_SIZE, R50_BATCH))
    rows = []
    for figure, arch, crop, batch in cases:
        record, speeds, seconds = compare(arch, crop, batch, recipe, args.rounds,
                                          args.round_seconds)
        chosen, float32 = record["policy"], speeds[FLOAT32]
        ours = speeds[chosen]
        timed = (f"auto timed float32 {record['float32_images_per_second']:,.1f} and bfloat16 "
                 f"{record['bfloat16_images_per_second']:,.1f} img/s"
                 if record["reason"] == "timed" else f"auto not timed ({record['reason']})")
        print(f"{arch} {crop}x{crop} batch {batch}: {timed} -> {record['chosen']}; decision "
              f"and build {seconds:.1f} s; then float32 {float32:,.1f} img/s, auto "
              f"({record['chosen']}) {ours:,.1f} img/s, {ours / float32:.2f}x")
        rows.append(result(
            f"{figure}. precision auto vs float32, {arch} {crop}x{crop} batch {batch} "
            "(images/s)", ours, float32, f">= {TARGET}x", ours / float32 >= TARGET, "img/s",
            f"CPU bfloat16 flags: {flags}; {timed} -> {PRECISIONS[chosen]}, the trainer's "
            f"decision and build took {seconds:.1f} s; then one train step (forward, "
            f"backward, SGD) of each policy in turn, best of {args.rounds} rounds of about "
            f"{args.round_seconds:g} s",
        ))
    emit(rows)


if __name__ == "__main__":
    main()
