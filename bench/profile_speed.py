"""Profiling speed: header-only probing against a full decode of the same JPEGs.

Writes ``--count`` seeded photo-like JPEGs of about 500x375 pixels into a temporary
folder, then probes them through ``bit_finetune.imaging.probe_reads`` (the path the
``profile_images`` node takes) with and without ``verify``, in-process and in a pool.
Prints images per second, the full-decode slowdown and peak resident memory.

    python bench/profile_speed.py [--count 2000] [--workers 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from bit_finetune.datasets.source import ReadResult
from bit_finetune.imaging import probe_reads


def write_jpegs(folder: Path, count: int, seed: int) -> list[Path]:
    """Photo-like JPEGs (smooth gradients, a few blocks, mild noise) of varied sizes."""
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 6, (1000, 1000, 3)).astype(np.float32)
    paths = []
    for i in range(count):
        width = int(rng.integers(400, 601))
        height = int(width * rng.choice([0.75, 0.75, 0.66, 1.0, 1.33]))
        slope = rng.uniform(-0.3, 0.3, (2, 1, 1, 3)).astype(np.float32)
        x = np.arange(width, dtype=np.float32)[None, :, None]
        y = np.arange(height, dtype=np.float32)[:, None, None]
        base = rng.uniform(0, 255, 3).astype(np.float32) + slope[0] * x + slope[1] * y
        for _ in range(4):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            base[y0 : y0 + height // 4, x0 : x0 + width // 4] += rng.uniform(-80, 80, 3)
        dx, dy = int(rng.integers(0, 1000 - width)), int(rng.integers(0, 1000 - height))
        base += grain[dy : dy + height, dx : dx + width]
        path = folder / f"{i:05d}.jpg"
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def reads(paths: list[Path]) -> Iterator[ReadResult]:
    for path in paths:
        yield ReadResult(str(path), path.read_bytes())


def peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        paths = write_jpegs(Path(tmp), args.count, args.seed)
        size = sum(p.stat().st_size for p in paths) / len(paths) / 1024
        print(
            f"{len(paths)} JPEGs, mean {size:.0f} KiB, written in "
            f"{time.perf_counter() - started:.1f} s"
        )
        rates = {}
        print(f"{'mode':<12} {'workers':>7} {'images/s':>10} {'bad':>4} {'peak RSS MiB':>13}")
        for workers in (1, args.workers):
            for verify in (False, True):
                started = time.perf_counter()
                probes = [p for _, p in probe_reads(reads(paths), verify=verify, workers=workers)]
                rate = len(probes) / (time.perf_counter() - started)
                rates[workers, verify] = rate
                bad = sum(not p.decodable for p in probes)
                rss = peak_rss_mib(resource.RUSAGE_SELF)
                if workers > 1:
                    rss = max(rss, peak_rss_mib(resource.RUSAGE_CHILDREN))
                mode = "full decode" if verify else "header only"
                print(f"{mode:<12} {workers:>7} {rate:>10,.0f} {bad:>4} {rss:>13.0f}")
        for workers in (1, args.workers):
            ratio = rates[workers, False] / rates[workers, True]
            print(f"header-only / full-decode speed, {workers} worker(s): {ratio:.1f}x")


if __name__ == "__main__":
    main()
