"""Transfer demo (figure 10): test top-1 of transfer from the upstream backbone against
the same downstream run from random init.

Runs the demo as its README command does, ``kedro run --env transfer_demo --pipelines
transfer_demo``, once per seed, each in a fresh copy of the project (``pyproject.toml`` and
``conf/``, an empty ``src/``: the package itself is installed), progress bars and MLflow
tracking off. A seed is the ``training.seed`` of both the upstream pretraining and the
downstream runs (``upstream.training.seed``, ``downstream.training.seed``); the splits stay
the demo's. Each run's transfer and scratch test top-1 come from
``data/transfer_demo/08_reporting/{transfer,scratch}/metrics.json``; the figure is the
median gain in points over the seeds. A CPU repeats a seed's figures exactly (the demo
trains in float32); one run takes 2.5 to 10.5 minutes on 2 CPU cores.

``--smoke`` shrinks the demo (R14x0.25, 2 steps a run) to check that the script works;
its row is marked smoke and not checked against the target.

    python bench/transfer_gain.py [--seeds 0 1 2] [--smoke] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import copy_project, emit, result

TARGET_POINTS = 10.0
QUIET = ("profiling", "preprocessing", "upstream.training", "downstream.training",
         "transfer_demo.evaluation")  # fmt: skip
"""Parameter sections whose progress bars are turned off."""
SMOKE_RECIPE = {"total_steps": 2, "warmup_steps": 0, "lr_boundaries": "[]"}
"""HyperRule overrides of both sides for ``--smoke``."""
SIDES = ("upstream", "downstream")


def demo_params(seed: int, smoke: bool) -> str:
    """``kedro run --params`` for one run: the seed, no progress bars (and the smoke size)."""
    params = [f"{section}.progress=false" for section in QUIET]
    params += [f"{side}.training.seed={seed}" for side in SIDES]
    if smoke:
        for side in SIDES:
            params.append(f"{side}.training.model.architecture=R14x0.25")
            for key, value in SMOKE_RECIPE.items():
                params += [f"{side}.hyperrule.overrides.{key}.value={value}",
                           f"{side}.hyperrule.overrides.{key}.reason=bench smoke run"]
    return ",".join(params)


def demo_run(folder: Path, seed: int, smoke: bool) -> tuple[dict[str, dict], float]:
    """One ``kedro run`` of the demo in a fresh copy at ``folder``: the test scores of each
    run (transfer, scratch, upstream: ``metrics.json``'s ``test``) and the wall seconds."""
    copy_project(folder)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "BIT_FINETUNE_TRACKING": "off"}
    command = [sys.executable, "-m", "kedro", "run", "--env", "transfer_demo",
               "--pipelines", "transfer_demo", "--params", demo_params(seed, smoke)]
    start = time.perf_counter()
    child = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                           check=False)  # fmt: skip
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        print(child.stdout[-3000:], child.stderr[-3000:])
        raise SystemExit(f"seed {seed}: kedro run failed with exit code {child.returncode}")
    reporting = folder / "data/transfer_demo/08_reporting"
    test = {run: json.loads((reporting / run / "metrics.json").read_text())["test"]
            for run in ("transfer", "scratch", "upstream")}  # fmt: skip
    return test, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="training.seed of each run (upstream and downstream)")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny demo (R14x0.25, 2 steps a run): checks the script only")
    parser.add_argument("--keep", help="run in this folder and keep it (default: temporary)")
    args = parser.parse_args()

    folder = Path(args.keep or tempfile.mkdtemp(prefix="transfer-gain-"))
    gains: list[float] = []
    try:
        for seed in args.seeds:
            test, seconds = demo_run(folder / f"seed{seed}", seed, args.smoke)
            top1 = {run: scores["top1"] for run, scores in test.items()}
            gains.append(100 * (top1["transfer"] - top1["scratch"]))
            print(f"seed {seed}: transfer {top1['transfer']:.1%}, random init "
                  f"{top1['scratch']:.1%}, gain {gains[-1]:+.1f} points (upstream "
                  f"{top1['upstream']:.1%}); kedro run {seconds:.0f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    median = statistics.median(gains)
    per_seed = ", ".join(f"seed {s} {g:+.1f}" for s, g in zip(args.seeds, gains))
    print(f"median gain over {len(gains)} seed(s): {median:+.1f} points")
    size = ("SMOKE: R14x0.25, 2 steps a run, not the demo's figure; " if args.smoke
            else "the demo as configured (R26x0.5, float32); ")
    emit([result(
        "10. transfer demo, test top-1 gain of transfer over random init"
        + (" (smoke)" if args.smoke else ""),
        median, None, f">= {TARGET_POINTS:.0f} points (median of 3 seeds)",
        None if args.smoke else median >= TARGET_POINTS, "points",
        f"{size}gain in points per seed (upstream and downstream training.seed): "
        f"{per_seed}; 5 training images per class, {test['transfer']['examples']} test "
        "images",
    )])


if __name__ == "__main__":
    main()
