"""Input pipeline speed (figure 1): our TFRecord shards against the seed recipe.

Writes ``--images`` seeded 500x375 photo-like JPEGs into a temporary image folder and
runs the real data stages on it (ingestion, profiling, filtering, HyperRule, then
``write_shards`` saved by ``TFRecordShardsDataset``: resized once to 512, JPEG q95;
and the same training images once more as raw pixels, ``preprocessing.encoding: raw``).
Then it times, alternating and best of ``--repeat``, over the same training images:

- ours: ``bit_finetune.training.inputs.train_dataset`` on the shards (read, decode,
  shuffle, random 480 crop, flip, batch, prefetch), the training loop's input function;
  once on the JPEG shards (the default encoding), once on the raw ones;
- baseline, the seed recipe: the original JPEG files, decode, resize to 512 (the
  HyperRule's resize size), random 480 crop, flip, batch, AUTOTUNE.

Second figure: the same input function on the embedded default's shards (the digits,
160 -> 128) against the training images/s of the embedded default's model at its
resolution (``conf/base/parameters``), so that training is never input-bound.

    python bench/input_speed.py [--images 2000] [--batch 64] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import (
    PHOTO_HEIGHT,
    PHOTO_WIDTH,
    best_of,
    emit,
    pairs,
    parameters,
    result,
    write_photo_folder,
)


def data_stages(source: Any, shards_path: str, params: dict[str, Any]) -> tuple[Any, dict, Any]:
    """Run ingestion .. preprocessing on ``source``; return (filtered index, HyperRule,
    shard set)."""
    from bit_finetune.pipelines.filtering.nodes import filter_images
    from bit_finetune.pipelines.hyperrule.nodes import derive_hyperrule
    from bit_finetune.pipelines.ingestion.nodes import index_images
    from bit_finetune.pipelines.profiling.nodes import profile_images

    index, label_map = index_images(source, params["ingestion"])
    profile = profile_images(source, index, params["profiling"])
    kept, _ = filter_images(index, profile, params["filtering"])
    recipe = derive_hyperrule(kept, label_map, params["hyperrule"])
    shards = shard_set(source, kept, recipe, label_map, params["preprocessing"], shards_path)
    return kept, recipe, shards


def shard_set(source: Any, rows: Any, recipe: dict, label_map: dict,
              settings: dict[str, Any], path: str) -> Any:
    """``rows`` written by the preprocessing node with ``settings`` and saved at ``path``;
    the saved shard set."""
    from bit_finetune.catalog.tfrecord_shards import TFRecordShardsDataset
    from bit_finetune.pipelines.preprocessing.nodes import write_shards

    store = TFRecordShardsDataset(path)
    store.save(write_shards(source, rows, recipe, label_map, settings))
    return store.load()


def shard_bytes(shards: Any, split: str = "train") -> int:
    """Bytes of a split's shard files."""
    return sum(f["bytes"] for f in shards.manifest["splits"][split]["files"])


def seed_recipe(uris: list[str], labels: list[int], recipe: dict, batch: int, seed: int):
    """The seed recipe's input pipeline on the original files."""
    import tensorflow as tf

    resize, crop, classes = recipe["resize_size"], recipe["crop_size"], recipe["num_classes"]

    def load(uri: tf.Tensor, label: tf.Tensor):
        image = tf.io.decode_jpeg(tf.io.read_file(uri), channels=3)
        image = tf.image.resize(image, [resize, resize])
        image = tf.image.random_crop(image, [crop, crop, 3])
        image = tf.image.random_flip_left_right(image)
        return image / 255.0, tf.one_hot(label, classes)

    ds = tf.data.Dataset.from_tensor_slices((uris, labels))
    ds = ds.shuffle(len(uris), seed=seed).repeat()
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def ours(shards: Any, recipe: dict, batch: int, training: dict):
    """The training loop's own input function on the shard set."""
    import tensorflow as tf

    from bit_finetune.config import stage_params
    from bit_finetune.hyperrule import HyperRule
    from bit_finetune.training.inputs import TrainData, pipeline_seeds, train_dataset

    settings = stage_params("training", training)
    return train_dataset(
        TrainData.from_shards(shards), HyperRule.of({**recipe, "batch_size": batch}), settings.augment,
        shuffle_buffer=settings.shuffle_buffer, seeds=pipeline_seeds(settings.seed, 0, 0),
        context=tf.distribute.InputContext(),
    )


def images_per_second(make_dataset, batches: int, batch: int) -> float:
    """Throughput of a fresh pipeline once its first batch is out (shuffle buffer full)."""
    iterator = iter(make_dataset())
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    del iterator
    gc.collect()
    return batches * batch / seconds


def stage_parameters(photos: bool) -> dict[str, Any]:
    """The embedded default's parameters; for ``photos`` the base recipe for photos (the
    HyperRule as derived at its reference batch, random crops and flips)."""
    params = parameters(
        "ingestion", "profiling", "filtering", "hyperrule", "preprocessing", "training",
        env="base" if photos else None,
    )
    for stage in ("profiling", "preprocessing"):
        params[stage] = {**params[stage], "progress": False}
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="500x375 JPEGs to generate")
    parser.add_argument("--batch", type=int, default=64, help="batch of the 480-crop pipelines")
    parser.add_argument("--repeat", type=int, default=5, help="alternating runs; best counts")
    parser.add_argument("--train-steps", type=int, default=20,
                        help="timed training steps of the default model (a multiple of 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import tensorflow as tf
    from train_speed import WARMUP_STEPS, training_speed

    from bit_finetune.catalog.digits import DigitsDataset
    from bit_finetune.catalog.image_folder import ImageFolderDataset

    params = stage_parameters(photos=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_photo_folder(Path(tmp, "images"), args.images, args.seed)
        source = ImageFolderDataset(os.path.join(tmp, "images")).load()
        kept, recipe, shards = data_stages(source, os.path.join(tmp, "shards"), params)
        train = kept[kept["split"] == "train"]
        raw = shard_set(source, train, recipe, {"names": shards.label_names},
                        {**params["preprocessing"], "encoding": "raw"}, os.path.join(tmp, "raw"))
        print(f"{args.images} JPEGs {PHOTO_WIDTH}x{PHOTO_HEIGHT}; {len(train)} in train; resize "
              f"{recipe['resize_size']}, crop {recipe['crop_size']}, batch {args.batch}; "
              f"data stages + shards in {time.perf_counter() - start:.0f} s")
        batches = max(1, len(train) // args.batch)
        rates = best_of(
            {
                "ours": lambda: images_per_second(
                    lambda: ours(shards, recipe, args.batch, params["training"]),
                    batches, args.batch),
                "ours, raw": lambda: images_per_second(
                    lambda: ours(raw, recipe, args.batch, params["training"]),
                    batches, args.batch),
                "baseline": lambda: images_per_second(
                    lambda: seed_recipe(list(train["uri"]), list(train["label"]), recipe,
                                        args.batch, args.seed),
                    batches, args.batch),
            },
            args.repeat,
        )
        for name, runs in rates.items():
            print(f"{name:>9}: best {max(runs):7.0f} images/s  (runs: "
                  f"{' '.join(f'{r:.0f}' for r in runs)})")
        best = {name: max(runs) for name, runs in rates.items()}
        for name, stored in (("ours", "JPEG q95 shards, the default"),
                             ("ours, raw", "raw shards, encoding: raw")):
            ratio = best[name] / best["baseline"]
            print(f"{stored} / seed recipe: {ratio:.2f}x")
            rows.append(result(
                f"1a. input pipeline, 500x375 JPEG -> 480 crop, {stored} (images/s)",
                best[name], best["baseline"], ">= 3x", ratio >= 3, "img/s",
                f"{len(train)} images, batch {args.batch}, best of {args.repeat} alternating; "
                f"{shard_bytes(shards) / 2**20:,.0f} MiB of JPEG train shards, "
                f"{shard_bytes(raw) / 2**20:,.0f} MiB raw; " + pairs(rates, name, "baseline"),
            ))

        default = stage_parameters(photos=False)
        architecture = default["training"]["model"]["architecture"]
        _, recipe, digit_shards = data_stages(
            DigitsDataset().load(), os.path.join(tmp, "digits"), default)
        batch, crop = int(recipe["batch_size"]), int(recipe["crop_size"])
        per_pass = max(1, digit_shards.count("train") // batch) * 2
        pipeline = max(best_of({"ours": lambda: images_per_second(
            lambda: ours(digit_shards, recipe, batch, default["training"]), per_pass, batch,
        )}, args.repeat)["ours"])
        trained = training_speed(
            architecture, crop, batch, args.train_steps, recipe, default["training"])
        print(f"default input pipeline (digits shards {recipe['resize_size']} -> {crop}, "
              f"batch {batch}): {pipeline:.0f} images/s; {architecture} training at "
              f"{crop}x{crop}, batch {batch}: {trained:.1f} images/s "
              f"-> {pipeline / trained:.1f}x")
        rows.append(result(
            f"1b. input pipeline vs {architecture} training, default {crop}x{crop} (images/s)",
            pipeline, trained, ">= 2x", pipeline / trained >= 2, "img/s",
            f"embedded default (digits), batch {batch}; training: {args.train_steps} steps "
            f"of the custom loop on in-memory images, after {WARMUP_STEPS} warm-up steps; "
            f"TF {tf.__version__}",
        ))
    emit(rows)


if __name__ == "__main__":
    main()
