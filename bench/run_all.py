"""Run every benchmark script and write ``bench/results.md``.

Each script runs in its own process (one figure each, in the order below) and ends with
``RESULT {json}`` lines (see ``common.py``); this collects them into one table (figure,
ours, baseline, ratio, target, met, machine) followed by the machine, the notes of every
figure and each script's own printout. A script that fails or runs out of time gets a
row saying so; the others still run.

    python bench/run_all.py [--only input_speed train_speed ...] [--output bench/results.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from common import bf16_flags

BENCH = Path(__file__).resolve().parent
SCRIPTS: dict[str, tuple[list[str], int]] = {
    "input_speed": ([], 600),
    "profile_speed": ([], 300),
    "shard_speed": ([], 300),
    "train_speed": ([], 900),
    "kedro_overhead": ([], 900),
    "scale_speed": ([], 600),
    "finetune_speed": ([], 600),
    "precision_speed": ([], 600),
    "gpu_mfu": ([], 900),
    "transfer_gain": ([], 2400),  # three demo runs, up to 10.5 min each on 2 cores
}
"""Script name -> (arguments, time limit in seconds)."""

UNITS = {"img/s": "{:,.0f} img/s", "s": "{:,.1f} s", "us/img": "{:,.0f} µs/img",
         "MFU": "{:.1%}", "points": "{:+.1f} points"}


def run(name: str, args: list[str], limit: int) -> tuple[list[dict], str, float]:
    """Run one script; return its result rows, its printout and its wall time."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KEDRO_DISABLE_TELEMETRY": "1",
           "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH / f"{name}.py"), *args], cwd=BENCH.parent, env=env,
            capture_output=True, text=True, timeout=limit, check=False,
        )
        output, failure = done.stdout, (f"exit code {done.returncode}: "
                                         f"{done.stderr.strip().splitlines()[-1:]}"
                                         if done.returncode else None)
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (
            expired.stdout or "")
        failure = f"timed out after {limit} s"
    seconds = time.perf_counter() - start
    rows = [json.loads(line[len("RESULT "):]) for line in output.splitlines()
            if line.startswith("RESULT ")]
    if failure:
        rows.append({"figure": f"{name}: FAILED", "ours": None, "baseline": None,
                     "ratio": None, "unit": "", "target": "", "met": False, "machine": "",
                     "notes": failure})
    printout = "\n".join(line for line in output.splitlines() if not line.startswith("RESULT "))
    return rows, printout, seconds


def cell(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "img/s" and value < 100:
        return f"{value:.1f} img/s"
    return UNITS.get(unit, "{:,.3g}").format(value)


def machine() -> list[str]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    bf16 = ", ".join(bf16_flags()) or "none"
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in
                         ("tensorflow", "keras", "kedro", "pillow", "numpy"))
    return [
        f"- CPU: {os.cpu_count()} cores, {model} (native bfloat16 flags: {bf16}); "
        f"{memory:.0f} GiB memory; no GPU"
        if not Path("/proc/driver/nvidia").exists() else f"- {os.cpu_count()} cores + GPU",
        f"- Python {platform.python_version()}, {versions}; {platform.platform()}",
    ]


def write(path: Path, rows: list[dict], printouts: dict[str, tuple[str, float]],
          started: datetime.datetime, loads: tuple[float, float], total: float) -> None:
    lines = [
        "# Benchmark results",
        "",
        (
            f"Written by `python bench/run_all.py` on {started:%Y-%m-%d %H:%M} UTC in "
            f"{total / 60:.1f} min; load average {loads[0]:.1f} at the start, "
            f"{loads[1]:.1f} at the end. How each figure is measured: `bench/README.md`."
        ),
        "",
        "| figure | ours | baseline | ratio | target | met | machine |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row['ratio']:.2f}x" if row.get("ratio") is not None else "–"
        met = {True: "yes", False: "**no**", None: "–"}[row.get("met")]
        lines.append(
            f"| {row['figure']} | {cell(row['ours'], row['unit'])} | "
            f"{cell(row['baseline'], row['unit'])} | {ratio} | {row['target']} | {met} | "
            f"{row['machine']} |"
        )
    lines += ["", "## Machine", "", *machine(), "", "## Notes", ""]
    lines += [f"- **{row['figure']}**: {row['notes']}" for row in rows if row.get("notes")]
    lines += ["", "## Printouts", ""]
    for name, (printout, seconds) in printouts.items():
        lines += [f"### {name}.py ({seconds:.0f} s)", "", "```", printout.strip(), "```", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SCRIPTS), help="run just these")
    parser.add_argument("--output", type=Path, default=BENCH / "results.md")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    first_load = os.getloadavg()[0]
    clock = time.perf_counter()
    rows: list[dict] = []
    printouts: dict[str, tuple[str, float]] = {}
    for name in args.only or SCRIPTS:
        script_args, limit = SCRIPTS[name]
        print(f"== {name} (load {os.getloadavg()[0]:.1f})", flush=True)
        found, printout, seconds = run(name, script_args, limit)
        print(printout, f"\n   [{seconds:.0f} s]", flush=True)
        rows += found
        printouts[name] = (printout, seconds)
    total = time.perf_counter() - clock
    write(args.output, rows, printouts, started, (first_load, os.getloadavg()[0]), total)
    print(f"wrote {args.output} ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
