"""Kedro overhead (figure 5): wall time of ``kedro run`` on the embedded default against
the time its nodes spend on their own work.

Copies ``pyproject.toml`` and ``conf/`` into a temporary project (with an empty ``src/``:
the package itself is installed) and runs ``kedro run`` there in a child process, with
one extra hook that timestamps every node run and every dataset load and save. The
child is ``kedro run`` exactly (the ``kedro`` command's own entry point) after the hook
is added to the project's ``settings.HOOKS``. It does so ``--repeat`` times, each in a
fresh copy (no checkpoints to resume from), and reports the run with the median
overhead share (not the lowest: a share is lowest when the nodes ran slowest); all
runs' overheads are printed.

A node's own time is its run plus the loads of its inputs and the saves of its outputs:
a node's output can be lazy (``write_shards`` returns a plan that the dataset executes
while saving), so the work a node stands for happens in all three. Everything else in
the wall time is overhead: interpreter start, imports, session and catalog set-up,
the project's hooks (parameter validation, run record) and the runner's bookkeeping.

    python bench/kedro_overhead.py [--keep DIR] [--repeat 3] [--tracking off|on]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMINGS = "BENCH_KEDRO_TIMINGS"
MAX_OVERHEAD = 0.05


class StopWatchHook:
    """Timestamps of the run, of every node and of every dataset load and save."""

    def __init__(self, path: str):
        self.path = path
        self.events: list[tuple[str, str, float]] = []

    def mark(self, kind: str, name: str) -> None:
        self.events.append((kind, name, time.time()))

    def write(self) -> None:
        Path(self.path).write_text(json.dumps(self.events))


def add_stopwatch(path: str) -> StopWatchHook:
    """Put a :class:`StopWatchHook` into the project's settings (before Kedro reads them)."""
    from kedro.framework.hooks import hook_impl

    from bit_finetune import settings

    class Hook(StopWatchHook):
        @hook_impl
        def after_context_created(self, context) -> None:
            self.mark("context", "created")

        @hook_impl
        def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
            self.mark("pipeline", "start")

        @hook_impl
        def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
            self.mark("pipeline", "end")
            self.write()

        @hook_impl
        def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
            self.mark("pipeline", "error")
            self.write()

        @hook_impl
        def before_node_run(self, node) -> None:
            self.mark("node_start", node.name)

        @hook_impl
        def after_node_run(self, node) -> None:
            self.mark("node_end", node.name)

        @hook_impl
        def before_dataset_loaded(self, dataset_name, node) -> None:
            self.mark("load_start", f"{node.name}:{dataset_name}")

        @hook_impl
        def after_dataset_loaded(self, dataset_name, data, node) -> None:
            self.mark("load_end", f"{node.name}:{dataset_name}")

        @hook_impl
        def before_dataset_saved(self, dataset_name, data, node) -> None:
            self.mark("save_start", f"{node.name}:{dataset_name}")

        @hook_impl
        def after_dataset_saved(self, dataset_name, data, node) -> None:
            self.mark("save_end", f"{node.name}:{dataset_name}")

    hook = Hook(path)
    settings.HOOKS = (*settings.HOOKS, hook)
    return hook


def run_kedro_child() -> None:
    """``kedro run`` with the stopwatch hook (the ``kedro`` command's entry point).

    An exit handler registered first, so run last, marks when the interpreter starts its
    final teardown. An audit hook marks when TensorFlow's import starts, wherever
    ``kedro run`` first needs it; the child runs under ``-X importtime``, which times it.
    """
    path = os.environ[TIMINGS]
    hook = add_stopwatch(path)

    def finalising() -> None:
        hook.mark("process", "finalising")
        hook.write()

    atexit.register(finalising)

    def tensorflow_import(event: str, args: tuple) -> None:
        if event == "import" and args[0] == "tensorflow" and "tensorflow" not in sys.modules:
            hook.mark("tensorflow", "import")

    sys.addaudithook(tensorflow_import)
    from kedro.framework.cli import main as kedro_main

    sys.argv = ["kedro", "run"]
    kedro_main()


def import_seconds(stderr: str, module: str) -> float:
    """Cumulative seconds of ``module``'s first import, from ``-X importtime`` output."""
    found = re.search(rf"^import time:\s+\d+ \|\s+(\d+) \|\s*{re.escape(module)}$", stderr,
                      re.MULTILINE)
    return int(found[1]) / 1e6 if found else 0.0


def spans(events: list, start: str, end: str) -> dict[str, float]:
    """Seconds between matching start/end events, summed per name."""
    opened: dict[str, float] = {}
    total: dict[str, float] = {}
    for kind, name, at in events:
        if kind == start:
            opened[name] = at
        elif kind == end and name in opened:
            total[name] = total.get(name, 0.0) + at - opened.pop(name)
    return total


def timed_run(folder: Path, tracking: str) -> tuple[float, float, list, str]:
    """``kedro run`` in a fresh copy of the project at ``folder``, MLflow tracking
    ``tracking`` (on/off): (start, end, the stopwatch's events, the child's stderr)."""
    from common import copy_project  # not at the top: the child stays as light as a run

    copy_project(folder)
    timings = folder / "timings.json"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", TIMINGS: str(timings),
           "TF_CPP_MIN_LOG_LEVEL": "2", "BIT_FINETUNE_TRACKING": tracking}
    started = time.time()
    child = subprocess.run(
        [sys.executable, "-X", "importtime", str(Path(__file__).resolve()), "--child"],
        cwd=folder, env=env, capture_output=True, text=True, check=False,
    )
    ended = time.time()
    if child.returncode != 0 or not timings.exists():
        print(child.stdout[-3000:], child.stderr[-3000:])
        raise SystemExit(f"kedro run failed with exit code {child.returncode}")
    return started, ended, json.loads(timings.read_text()), child.stderr


def own_times(events: list) -> dict[str, tuple[float, float, float]]:
    """Per node: (run, input loads, output saves) seconds."""
    runs = spans(events, "node_start", "node_end")
    loads = spans([(k, n.split(":")[0], t) for k, n, t in events], "load_start", "load_end")
    saves = spans([(k, n.split(":")[0], t) for k, n, t in events], "save_start", "save_end")
    return {name: (runs[name], loads.get(name, 0.0), saves.get(name, 0.0)) for name in runs}


def node_windows(events: list) -> dict[str, tuple[float, float]]:
    """Per node: from its first input load (or its run) to its last output save (or the
    end of its run): the span its own time lies in."""
    windows: dict[str, tuple[float, float]] = {}
    for kind, name, at in events:
        if kind in ("node_start", "node_end", "load_start", "save_end"):
            node = name.split(":")[0]
            first, last = windows.get(node, (at, at))
            windows[node] = (min(first, at), max(last, at))
    return windows


def overhead_share(run: tuple[float, float, list, str]) -> float:
    """Overhead as a share of the wall time."""
    started, ended, events, _ = run
    nodes_total = sum(sum(parts) for parts in own_times(events).values())
    return (ended - started - nodes_total) / (ended - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="run in this folder and keep it (default: temporary)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs, each in a fresh copy; the median overhead counts")
    parser.add_argument("--tracking", choices=["off", "on"], default="off",
                        help="MLflow tracking (on: needs the mlflow extra); off, as the "
                             "README's first command installs the project")
    args = parser.parse_args()
    from common import emit, result

    folder = Path(args.keep or tempfile.mkdtemp(prefix="kedro-overhead-"))
    try:
        timed = [timed_run(folder / f"run{i}", args.tracking) for i in range(args.repeat)]
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    shares = [overhead_share(run) for run in timed]
    started, ended, events, stderr = timed[shares.index(statistics.median_low(shares))]

    wall = ended - started
    own = own_times(events)
    nodes_total = sum(sum(parts) for parts in own.values())
    at = {f"{kind}:{name}": t for kind, name, t in events
          if kind in ("process", "context", "pipeline", "tensorflow")}
    startup = at["pipeline:start"] - started
    tensorflow = import_seconds(stderr, "tensorflow")
    teardown = ended - at["pipeline:end"]
    finalising = ended - at["process:finalising"]
    gaps = at["pipeline:end"] - at["pipeline:start"] - nodes_total
    overhead = wall - nodes_total
    opened = at.get("tensorflow:import", 0.0)
    inside = [name for name, (first, last) in node_windows(events).items()
              if first <= opened < last]
    imported = f"in node {inside[0]}" if inside else "outside the nodes"
    kedro = overhead - finalising - (0.0 if inside else tensorflow)
    runs_text = " ".join(f"{share:.1%}" for share in shares)
    print(f"overhead in {len(shares)} runs, each in a fresh project copy: {runs_text}; "
          f"the median one, in detail:")
    print(f"kedro run (embedded default): {wall:.1f} s wall, {len(own)} nodes")
    print(f"{'node':<34} {'run s':>8} {'load s':>8} {'save s':>8} {'own s':>8}")
    for name, parts in sorted(own.items(), key=lambda kv: -sum(kv[1])):
        print(f"{name:<34} {parts[0]:8.2f} {parts[1]:8.2f} {parts[2]:8.2f} {sum(parts):8.2f}")
    breakdown = (
        f"{startup:.1f} s to the pipeline start, {gaps:.1f} s from there to the first node "
        f"and between nodes, {teardown:.1f} s after the last node (the interpreter's final "
        f"teardown {finalising:.1f} s); importing TensorFlow took {tensorflow:.1f} s, "
        f"{imported}"
    )
    print(f"nodes' own time {nodes_total:.1f} s; overhead {overhead:.1f} s "
          f"({overhead / wall:.1%} of the wall time): {breakdown}")
    print(f"without TensorFlow's import and the final teardown (a script running the same "
          f"nodes pays them too): {kedro:.1f} s = {kedro / wall:.1%}")
    slowest = max(own, key=lambda name: sum(own[name]))
    emit([result(
        "5. kedro run overhead, embedded default (wall s vs nodes' own s)", wall, nodes_total,
        f"overhead <= {MAX_OVERHEAD:.0%}", overhead / wall <= MAX_OVERHEAD, "s",
        f"MLflow tracking {args.tracking}; median of {len(shares)} runs (overheads {runs_text}): "
        f"overhead {overhead:.1f} s = "
        f"{overhead / wall:.1%} of the wall time: {breakdown}. Without TensorFlow's import "
        f"and the final teardown: {kedro:.1f} s = {kedro / wall:.1%}. Slowest node: "
        f"{slowest} {sum(own[slowest]):.0f} s",
    )])


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        run_kedro_child()
    else:
        main()
