"""Head-only against full fine-tuning (figure 8): the same data, model and schedule.

Both sides call ``bit_finetune.training.finetune.finetune`` on the same shard set, each
in a fresh workspace: ``training.finetune: full`` backpropagates through the whole
network on every step; ``head`` puts every train image through the frozen backbone once
(its features, into a fresh ``backbone_features`` folder: the cost of the first run) and
trains the head on them. Each side's figure is the schedule's images (steps x batch)
over its wall time, model building, tracing and, for ``head``, feature extraction
included. Runs alternate (full, head, full, head); the best of each side counts.

- 8a: the embedded default (digits, R14x0.25 at 64x64, batch 128), its whole HyperRule
  schedule (500 steps, as ``kedro run`` trains it; ``--steps`` cuts it);
- 8b: BiT R50x1 from random init at 128x128 (photo-like 500x375 JPEGs resized to 144,
  cropped to 128), batch 32, ``--r50-steps`` steps.

The fixed costs (building the model, tracing, and for ``head`` computing the features)
weigh more the shorter the schedule; a real schedule is 500 steps or more.

    python bench/finetune_speed.py [--steps 500] [--r50-steps 40] [--repeat 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import best_of, emit, pairs, result, write_photo_folder
from input_speed import data_stages, stage_parameters

R50_IMAGES, R50_RESIZE, R50_CROP, R50_BATCH = 256, 144, 128, 32


def finetune_speed(shards: Any, recipe: dict, training: dict, mode: str, folder: str) -> float:
    """Images per second of wall time of one fine-tuning run in fresh folders."""
    from bit_finetune.bit.classifier import build_classifier
    from bit_finetune.config import stage_params
    from bit_finetune.training.finetune import finetune

    params = stage_params("training", {
        **training, "finetune": mode, "strategy": "default", "progress": False,
        "checkpoint_every": 10**6, "eval_every": None,  # training alone, no validation
        "mixed_precision": "off",  # both sides float32: auto's timed choice is figure 9
    })
    model, classes = params.model, int(recipe["num_classes"])
    with tempfile.TemporaryDirectory(dir=folder) as run:
        start = time.perf_counter()
        finetune(lambda: build_classifier(model.architecture, classes, model.weights),
                 shards, recipe, params, Path(run, "training"), Path(run, "features"))
        seconds = time.perf_counter() - start
    return int(recipe["total_steps"]) * int(recipe["batch_size"]) / seconds


def compare(shards: Any, recipe: dict, training: dict, repeat: int, folder: str
            ) -> dict[str, list[float]]:
    rates = best_of({mode: lambda mode=mode: finetune_speed(shards, recipe, training, mode,
                                                            folder)
                     for mode in ("full", "head")}, repeat)
    for name, runs in rates.items():
        print(f"  {name:>4}: best {max(runs):8.0f} images/s  (runs: "
              f"{' '.join(f'{r:.0f}' for r in runs)})")
    return rates


def row(figure: str, rates: dict[str, list[float]], notes: str) -> dict[str, Any]:
    head, full = max(rates["head"]), max(rates["full"])
    print(f"  head-only / full: {head / full:.1f}x")
    return result(figure, head, full, ">= 5x", head / full >= 5, "img/s",
                  notes + "; " + pairs(rates, "head", "full"))


def short(recipe: dict, steps: int, **values: Any) -> dict:
    """``recipe`` cut to ``steps`` steps (warm-up and LR drops scaled alike)."""
    scale = steps / int(recipe["total_steps"])
    return {**recipe, **values, "total_steps": steps,
            "warmup_steps": int(recipe["warmup_steps"] * scale),
            "lr_boundaries": [int(b * scale) for b in recipe["lr_boundaries"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="steps of the default (8a)")
    parser.add_argument("--r50-steps", type=int, default=40, help="steps of R50x1 (8b)")
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs; best counts")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from bit_finetune.catalog.digits import DigitsDataset
    from bit_finetune.catalog.image_folder import ImageFolderDataset

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        default = stage_parameters(photos=False)
        _, recipe, shards = data_stages(DigitsDataset().load(), os.path.join(tmp, "d"), default)
        recipe = short(recipe, args.steps)
        architecture = default["training"]["model"]["architecture"]
        print(f"8a. embedded default: {shards.count('train')} train images, {architecture} "
              f"at {recipe['crop_size']}, batch {recipe['batch_size']}, {args.steps} steps")
        rates = compare(shards, recipe, default["training"], args.repeat, tmp)
        rows.append(row(
            f"8a. head-only vs full fine-tuning, embedded default {architecture} (images/s)",
            rates, f"{shards.count('train')} digits, batch {recipe['batch_size']}, "
            f"{args.steps} steps, best of {args.repeat} alternating; wall time of "
            "finetune() incl. model build and (head) feature extraction"))

        photos = stage_parameters(photos=True)
        photos["hyperrule"] = {"batch_size": R50_BATCH, "batch_policy": "official",
                               "overrides": {"resize_size": R50_RESIZE, "crop_size": R50_CROP}}
        write_photo_folder(Path(tmp, "images"), R50_IMAGES)
        source = ImageFolderDataset(os.path.join(tmp, "images")).load()
        _, recipe, shards = data_stages(source, os.path.join(tmp, "p"), photos)
        recipe = short(recipe, args.r50_steps)
        training = {**photos["training"], "model": {"architecture": "R50x1"}}
        print(f"8b. R50x1: {shards.count('train')} train images at {R50_CROP}, "
              f"batch {R50_BATCH}, {args.r50_steps} steps")
        rates = compare(shards, recipe, training, args.repeat, tmp)
        rows.append(row(
            f"8b. head-only vs full fine-tuning, R50x1 {R50_CROP}x{R50_CROP} (images/s)", rates,
            f"{shards.count('train')} photo-like images, batch {R50_BATCH}, "
            f"{args.r50_steps} steps, best of {args.repeat} alternating; wall time incl. "
            "model build and (head) feature extraction, most of head's time in a schedule "
            "this short"))
    emit(rows)


if __name__ == "__main__":
    main()
