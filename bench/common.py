"""Shared by the benchmark scripts: seeded test images, the embedded default's recipe,
interleaved best-of timing and the result line that ``run_all.py`` collects.

Every script prints its figures for people and ends with one ``RESULT {json}`` line per
figure: ``figure``, ``ours``, ``baseline``, ``ratio``, ``target``, ``met`` and ``notes``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
PHOTO_WIDTH, PHOTO_HEIGHT = 500, 375


def copy_project(folder: Path) -> Path:
    """The project's ``pyproject.toml`` and ``conf/`` in ``folder`` (returned), with an empty
    ``src/`` (the package itself is installed): a ``kedro run`` there writes to its data/."""
    shutil.copytree(ROOT / "conf", folder / "conf", dirs_exist_ok=True)
    shutil.copy(ROOT / "pyproject.toml", folder)
    (folder / "src").mkdir(exist_ok=True)
    return folder


class PhotoMaker:
    """Photo-like JPEGs: a colour gradient, a few filled ellipses and mild sensor noise.

    They compress like photographs (about 40 KiB at 500x375, quality 90), unlike flat or
    pure-noise images, so decoders and encoders do representative work.
    """

    def __init__(self, seed: int, width: int = PHOTO_WIDTH, height: int = PHOTO_HEIGHT):
        self.rng = np.random.default_rng(seed)
        self.width, self.height = width, height
        self.grain = self.rng.normal(0, 6, (2 * height, 2 * width, 3)).astype(np.float32)
        self.x = np.arange(width, dtype=np.float32)[None, :, None]
        self.y = np.arange(height, dtype=np.float32)[:, None, None]

    def pixels(self) -> np.ndarray:
        rng, w, h = self.rng, self.width, self.height
        slope = rng.uniform(-0.4, 0.4, (2, 3)).astype(np.float32)
        base = rng.uniform(40, 215, 3).astype(np.float32) + slope[0] * self.x + slope[1] * self.y
        dy, dx = (int(v) for v in rng.integers(0, [h, w]))
        base = base + self.grain[dy : dy + h, dx : dx + w]
        return np.clip(base, 0, 255).astype(np.uint8)

    def jpeg(self, quality: int = 90) -> bytes:
        image = Image.fromarray(self.pixels())
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x0, y0 = (int(v) for v in self.rng.integers(0, [self.width - 60, self.height - 60]))
            ew, eh = (int(v) for v in self.rng.integers(20, 160, 2))
            fill = tuple(int(c) for c in self.rng.integers(0, 256, 3))
            draw.ellipse([x0, y0, x0 + ew, y0 + eh], fill=fill)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        return out.getvalue()


def photos(count: int, seed: int = 0) -> list[bytes]:
    """``count`` seeded 500x375 photo-like JPEGs, in memory."""
    maker = PhotoMaker(seed)
    return [maker.jpeg() for _ in range(count)]


def write_photo_folder(root: Path, count: int, seed: int = 0, classes: int = 2) -> list[Path]:
    """Seeded 500x375 JPEGs laid out as ``root/train/class<k>/<i>.jpg`` (an image folder
    whose only split is train); returns the paths in write order."""
    paths = []
    for i, data in enumerate(photos(count, seed)):
        path = root / "train" / f"class{i % classes}" / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def parameters(*stages: str, env: str | None = None) -> dict[str, Any]:
    """The given stages' parameters as ``kedro run --env <env>`` reads them: the embedded
    default's (``conf/digits`` over ``conf/base``) when ``env`` is None, the recipe for
    photos alone with ``env="base"``."""
    from bit_finetune.settings import CONFIG_LOADER_ARGS, EnvironmentConfigLoader

    loaded = EnvironmentConfigLoader(str(ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)
    return {stage: loaded["parameters"][stage] for stage in stages}


def embedded_default() -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Architecture, HyperRule recipe and training parameters of the embedded default
    (the 8x8 digits: 1,437 training images, 10 classes, as ``kedro run`` derives them)."""
    from bit_finetune.config import stage_params
    from bit_finetune.hyperrule import derive

    params = parameters("training", "hyperrule")
    rule = stage_params("hyperrule", params["hyperrule"])
    recipe = derive(
        train_examples=1437, median_area=64.0, num_classes=10,
        batch_size=rule.batch_size, batch_policy=rule.batch_policy, overrides=rule.overrides,
    )
    architecture = stage_params("training", params["training"]).model.architecture
    return architecture, recipe, params["training"]


def best_of(
    runs: dict[str, Callable[[], float]], repeat: int, between: Callable[[], None] | None = None
) -> dict[str, list[float]]:
    """Call every run ``repeat`` times, alternating A, B, A, B...; each returns a rate.

    Alternating puts both sides of a comparison under the same background load, so the
    best of each side is a fair pair on a shared machine.
    """
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            rates[name].append(run())
            if between:
                between()
    return rates


def pairs(rates: dict[str, list[float]], ours: str, baseline: str) -> str:
    """The ratio of each alternating round (its two runs were back to back), and their
    median: a check on the best-of figure when the load changes between runs."""
    ratios = [a / b for a, b in zip(rates[ours], rates[baseline])]
    shown = " ".join(f"{r:.2f}" for r in ratios)
    return f"per-round ratios {shown} (median {statistics.median(ratios):.2f}x)"


def rate(count: int, action: Callable[[], Any]) -> float:
    """``count / seconds`` that ``action()`` took."""
    start = time.perf_counter()
    action()
    return count / (time.perf_counter() - start)


def load() -> float:
    """The one-minute load average (how busy the shared machine is)."""
    return os.getloadavg()[0]


def machine() -> str:
    return f"{os.cpu_count()}-core CPU, load {load():.1f}"


def bf16_flags() -> tuple[str, ...]:
    """The CPU's native-bfloat16 flags (``avx512_bf16``, ``amx_bf16``), as
    ``training.mixed_precision: auto`` reads them."""
    from bit_finetune.runtime.precision import cpu_bf16_flags

    return cpu_bf16_flags()


def result(
    figure: str,
    ours: float | None,
    baseline: float | None,
    target: str,
    met: bool | None,
    unit: str = "",
    notes: str = "",
    ratio: float | None = None,
) -> dict[str, Any]:
    """One row of the results table (``ratio`` defaults to ours / baseline)."""
    if ratio is None and ours is not None and baseline:
        ratio = ours / baseline
    return {
        "figure": figure, "ours": ours, "baseline": baseline, "ratio": ratio, "unit": unit,
        "target": target, "met": met, "machine": machine(), "notes": notes,
    }


def emit(rows: Sequence[dict[str, Any]]) -> None:
    """Print the result lines ``run_all.py`` collects."""
    for row in rows:
        print("RESULT " + json.dumps(row), flush=True)
