"""Profiling speed (figure 2): header-only probing against a full decode of the same JPEGs.

Writes ``--count`` seeded photo-like 500x375 JPEGs into a temporary image folder, indexes
it with the ingestion node and runs the ``profile_images`` node on it through
``ImageFolderDataset``, as ``kedro run`` does: headers only (``verify_decode: false``)
and full decode (``verify_decode: true``), both in one process (the figure: the cost
per image), and full decode in ``--workers`` processes as the node runs it; alternating,
best of ``--repeat``. Prints images per second, the full-decode slowdown and peak
resident memory.

    python bench/profile_speed.py [--count 2000] [--workers 2] [--repeat 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from common import best_of, emit, rate, result, write_photo_folder

MIN_RATE = 2000
MIN_RATIO = 10


def peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=4, help="alternating runs; best counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # Imported here: pool workers re-import this script, and need none of it.
    from bit_finetune.catalog.image_folder import ImageFolderDataset
    from bit_finetune.pipelines.ingestion.nodes import index_images
    from bit_finetune.pipelines.profiling.nodes import profile_images

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        paths = write_photo_folder(Path(tmp), args.count, args.seed)
        size = sum(p.stat().st_size for p in paths) / len(paths) / 1024
        print(f"{len(paths)} JPEGs 500x375, mean {size:.0f} KiB, written in "
              f"{time.perf_counter() - started:.1f} s")
        source = ImageFolderDataset(tmp).load()
        index, _ = index_images(source, {"seed": 42})

        def profile(verify: bool, workers: int) -> float:
            params = {"verify_decode": verify, "workers": workers, "progress": False}
            return rate(len(index), lambda: profile_images(source, index, params))

        rates = best_of(
            {
                "header only": lambda: profile(False, 1),
                "full decode, 1 process": lambda: profile(True, 1),
                f"full decode, {args.workers} processes": lambda: profile(True, args.workers),
            },
            args.repeat,
        )
        rss = max(peak_rss_mib(resource.RUSAGE_SELF), peak_rss_mib(resource.RUSAGE_CHILDREN))
    best = {mode: max(runs) for mode, runs in rates.items()}
    for mode, runs in rates.items():
        print(f"{mode:<24} best {best[mode]:8,.0f} images/s  (runs: "
              f"{' '.join(f'{r:,.0f}' for r in runs)})")
    header, full = best["header only"], best["full decode, 1 process"]
    pooled = best[f"full decode, {args.workers} processes"]
    print(f"header-only / full decode: {header / full:.1f}x (both in one process), "
          f"{header / pooled:.1f}x against {args.workers} processes; peak RSS {rss:.0f} MiB")
    emit([result(
        "2. profiling, 500x375 JPEGs: header-only vs full decode (images/s)", header, full,
        f">= {MIN_RATIO}x and >= {MIN_RATE:,} img/s",
        header / full >= MIN_RATIO and header >= MIN_RATE, "img/s",
        f"profile_images node on {len(index)} files via ImageFolderDataset, both in one "
        f"process; full decode as the node runs it with verify_decode ({args.workers} "
        f"processes): {pooled:,.0f} img/s ({header / pooled:.1f}x); best of {args.repeat} "
        "alternating",
    )])


if __name__ == "__main__":
    main()
