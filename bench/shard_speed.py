"""Shard-writing speed: images/second with 1 vs 2 worker processes.

Generates seeded 500x375 photo-like JPEGs in memory, runs the ``write_shards`` node and
saves through ``TFRecordShardsDataset`` (resize to 512, JPEG quality 95, as the
HyperRule picks for images this size), and prints the best throughput of a few
interleaved runs (pool start-up included) and the speed-up.
It also times a pure-CPU task on 1 vs 2 processes: the speed-up the machine can give
right now (about 2 on an idle 2-core machine, less when other work shares the cores).
Usage: ``python bench/shard_speed.py [--images 300] [--workers 1 2] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image, ImageDraw

from bit_finetune.datasets.source import ImageSource, ReadResult, SourceItem

WIDTH, HEIGHT = 500, 375


class MemorySource(ImageSource):
    """Encoded images held in memory, keyed by uri."""

    def __init__(self, images: dict[str, bytes]):
        self.images = images

    def scan(self) -> Iterator[SourceItem]:
        for i, uri in enumerate(self.images):
            yield SourceItem(uri, uri, f"class{i % 2}", "train")

    def read(self, uris: Iterable[str]) -> Iterator[ReadResult]:
        for uri in uris:
            yield ReadResult(uri, self.images[uri])

    def describe(self) -> dict:
        return {"images": len(self.images)}


def photo(rng: np.random.Generator) -> bytes:
    """A smooth gradient with a few shapes and mild noise: compresses like a photo."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = rng.uniform(0, 255, 3) + np.stack([x / 4, y / 3, (x + y) / 6], axis=-1)
    noisy = base + rng.normal(0, 6, (HEIGHT, WIDTH, 3))
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = (int(v) for v in rng.integers(0, [WIDTH - 60, HEIGHT - 60]))
        w, h = (int(v) for v in rng.integers(20, 160, 2))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([x0, y0, x0 + w, y0 + h], fill=fill)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def cpu_headroom(tasks: int = 4, n: int = 3_000_000) -> float:
    """How many times faster 2 processes finish ``tasks`` pure-CPU tasks than 1."""
    start = time.perf_counter()
    for _ in range(tasks):
        spin(n)
    one = time.perf_counter() - start
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(spin, [1, 1])
        start = time.perf_counter()
        pool.map(spin, [n] * tasks, chunksize=1)
        two = time.perf_counter() - start
    return one / two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; best counts")
    args = parser.parse_args()
    # Imported here, not at the top: worker processes start fresh and re-import this
    # script, as `kedro run` workers re-import only the light kedro entry point.
    import pandas as pd

    from bit_finetune.datasets.tfrecord_shards import TFRecordShardsDataset
    from bit_finetune.pipelines.preprocessing.nodes import write_shards

    rng = np.random.default_rng(0)
    images = {f"img{i:04d}.jpg": photo(rng) for i in range(args.images)}
    index = pd.DataFrame(
        {
            "id": list(images),
            "uri": list(images),
            "label": [i % 2 for i in range(len(images))],
            "split": "train",
        }
    )
    source = MemorySource(images)
    print(f"{len(images)} JPEGs {WIDTH}x{HEIGHT} -> 512x512 JPEG q95, {os.cpu_count()} CPUs")
    seconds: dict[int, list[float]] = {w: [] for w in args.workers}
    checksums = set()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for workers in args.workers:
                params = {"workers": workers, "progress": False, "examples_per_shard": 64}
                dataset = TFRecordShardsDataset(os.path.join(tmp, f"w{workers}"))
                start = time.perf_counter()
                payload = write_shards(
                    source, index, {"resize_size": 512}, {"names": ["a", "b"]}, params
                )
                dataset.save(payload)
                seconds[workers].append(time.perf_counter() - start)
                files = dataset.load().manifest["splits"]["train"]["files"]
                checksums.add(tuple(f["sha256"] for f in files))
    rates = {w: len(images) / min(times) for w, times in seconds.items()}
    for workers, times in seconds.items():
        runs = " ".join(f"{t:.2f}" for t in times)
        print(f"workers={workers}: best {rates[workers]:6.1f} images/s  (runs, s: {runs})")
    first, *others = args.workers
    for workers in others:
        print(f"speed-up workers={workers} vs {first}: {rates[workers] / rates[first]:.2f}x")
    print("identical shards across worker counts:", len(checksums) == 1)
    print(f"CPU headroom now: pure-CPU work on 2 vs 1 processes: {cpu_headroom():.2f}x")


if __name__ == "__main__":
    main()
