"""Scale (figure 6): indexing and profiling 1k, 10k and 100k small images.

Writes ``--largest`` seeded 32x32 images (half PNG, half JPEG; 4,096 distinct encodings
cycled over the files) as ``root/class<k>/<i>.<ext>`` once, and hard-links the first 1k
and 10k into folders of their own (generation is not timed). For every size a fresh
child process lists the folder with ``ImageFolderDataset``, runs the ingestion node
(``index_images``) and the profiling node (``profile_images``, headers only, as
configured in ``conf/base``), and reports the seconds of that work (imports excluded)
and its peak resident memory; the parent reads the same peak from
``getrusage(RUSAGE_CHILDREN)``. Sizes run in turn, ``--repeat`` rounds; the fastest run
of each size counts. Time should grow linearly: a flat cost per image.

    python bench/scale_speed.py [--sizes 1000 10000 100000] [--classes 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_RSS_MIB = 1024
MAX_GROWTH = 1.25
DISTINCT = 4096


def encodings(seed: int) -> list[tuple[str, bytes]]:
    """``DISTINCT`` small images: a colour gradient with noise, as PNG or JPEG."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, 32, dtype=np.float32)
    out = []
    for i in range(DISTINCT):
        pixels = rng.uniform(0, 255, 3) * np.add.outer(ramp, ramp)[..., None] / 2
        pixels = np.clip(pixels + rng.normal(0, 8, (32, 32, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        ext = "png" if i % 2 else "jpg"
        Image.fromarray(pixels).save(buffer, format="PNG" if ext == "png" else "JPEG")
        out.append((ext, buffer.getvalue()))
    return out


def write_folders(root: Path, sizes: list[int], classes: int, seed: int) -> dict[int, Path]:
    """The largest folder written once; smaller ones hard-link its first files."""
    images = encodings(seed)
    largest = max(sizes)
    folders = {size: root / f"n{size}" for size in sizes}
    names = []
    for i in range(largest):
        ext, data = images[i % DISTINCT]
        name = Path(f"class{i % classes}") / f"{i:06d}.{ext}"
        path = folders[largest] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        names.append(name)
    for size, folder in folders.items():
        if size != largest:
            for name in names[:size]:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                os.link(folders[largest] / name, folder / name)
    return folders


def measure(folder: str) -> None:
    """Child: list, index and profile ``folder``; print the timings as JSON."""
    from common import parameters

    from bit_finetune.catalog.image_folder import ImageFolderDataset
    from bit_finetune.pipelines.ingestion.nodes import index_images
    from bit_finetune.pipelines.profiling.nodes import profile_images

    params = parameters("ingestion", "profiling")
    profiling = {**params["profiling"], "progress": False}
    start = time.perf_counter()
    source = ImageFolderDataset(folder).load()
    listed = time.perf_counter()
    index, _ = index_images(source, params["ingestion"])
    indexed = time.perf_counter()
    profile = profile_images(source, index, profiling)
    profiled = time.perf_counter()
    assert len(profile) == len(index) and profile["decodable"].all()
    print(json.dumps({
        "images": len(index),
        "list_s": listed - start,
        "index_s": indexed - listed,
        "profile_s": profiled - indexed,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2, help="rounds over the sizes; best counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from common import emit, result

    sizes = sorted(args.sizes)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        folders = write_folders(Path(tmp), sizes, args.classes, args.seed)
        print(f"wrote {max(sizes):,} 32x32 images in {time.perf_counter() - started:.0f} s")
        runs: dict[int, list[dict]] = {size: [] for size in sizes}
        for round_ in range(args.repeat):
            for size in sizes:  # increasing: in round 1, RUSAGE_CHILDREN's max is this child's
                child = subprocess.run(
                    [sys.executable, __file__, "--child", str(folders[size])],
                    capture_output=True, text=True, check=True,
                    env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
                )
                row = json.loads(child.stdout.strip().splitlines()[-1])
                row["total_s"] = row["list_s"] + row["index_s"] + row["profile_s"]
                if round_ == 0:
                    row["children_rss_mib"] = (
                        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
                    )
                runs[size].append(row)
    rows = {size: min(found, key=lambda r: r["total_s"]) for size, found in runs.items()}
    for size in sizes:
        rows[size]["children_rss_mib"] = runs[size][0]["children_rss_mib"]
    print(f"{'images':>8} {'list s':>7} {'index s':>8} {'profile s':>9} {'total s':>8} "
          f"{'us/image':>9} {'peak RSS MiB':>13}")
    per_image = {}
    for size, row in rows.items():
        total = row["total_s"]
        per_image[size] = total / row["images"] * 1e6
        print(f"{row['images']:>8,} {row['list_s']:7.2f} {row['index_s']:8.2f} "
              f"{row['profile_s']:9.2f} {total:8.2f} {per_image[size]:9.0f} "
              f"{row['children_rss_mib']:13.0f}")
    small, large = sizes[-2], sizes[-1]
    growth = per_image[large] / per_image[small]
    rss = rows[large]["children_rss_mib"]
    print(f"per-image cost at {large:,} / at {small:,}: {growth:.2f}x; peak RSS at "
          f"{large:,}: {rss:.0f} MiB")
    costs = ", ".join(f"{s:,}: {per_image[s]:.0f} us" for s in sizes)
    emit([result(
        f"6. scale: list + index + profile {large:,} images (us/image at {large:,} vs "
        f"{small:,})", per_image[large], per_image[small],
        f"linear (<= {MAX_GROWTH}x per image), peak RSS < {MAX_RSS_MIB} MiB",
        growth <= MAX_GROWTH and rss < MAX_RSS_MIB, "us/img",
        f"per image: {costs}; peak RSS at {large:,}: {rss:.0f} MiB (child process, "
        f"RUSAGE_CHILDREN); best of {args.repeat} rounds",
    )])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        measure(sys.argv[2])
    else:
        main()
