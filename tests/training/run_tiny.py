"""Train the tiny model in a process of its own (multi-worker, mirrored, kill/resume tests).

    python -m tests.training.run_tiny WORKSPACE OUT.npz [--steps N] [--strategy S]
        [--logical-cpus K] [--delay SECONDS] [--warmup N] [--batch B] [--checkpoint-every N]
        [--micro-batch M] [--validation-shards FOLDER] [--eval-every N]

Writes the final weights (``w0``, ``w1``, ...), ``start_step``/``final_step`` and the
history's ``history_steps``, ``val_loss`` and ``val_accuracy`` to OUT.npz. With
``--validation-shards`` it validates on the validation split of that shard set.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workspace", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--logical-cpus", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--checkpoint-every", type=int, default=4)
    parser.add_argument("--shuffle-buffer", type=int, default=64)
    parser.add_argument("--micro-batch", type=int, default=None)
    parser.add_argument("--validation-shards", default=None)
    parser.add_argument("--eval-every", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    import numpy as np
    import tensorflow as tf

    if args.logical_cpus:
        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus
        )

    from bit_finetune.catalog import TFRecordShardsDataset
    from bit_finetune.training.loop import train
    from bit_finetune.training.validation import ValidationData
    from tests.training.tiny import CROP, tiny_data, tiny_model, tiny_params, tiny_recipe

    recipe = tiny_recipe(
        total_steps=args.steps,
        warmup_steps=args.warmup,
        batch_size=args.batch,
        lr_boundaries=[int(args.steps * f) for f in (0.6, 0.8, 0.9)],
    )
    params = tiny_params(
        strategy=args.strategy,
        checkpoint_every=args.checkpoint_every,
        shuffle_buffer=args.shuffle_buffer,
        micro_batch_size=args.micro_batch,
        **({"eval_every": args.eval_every} if args.eval_every else {}),
    )
    validation = (
        ValidationData.from_shards(TFRecordShardsDataset(args.validation_shards).load(), CROP)
        if args.validation_shards
        else None
    )
    data = tiny_data(delay=args.delay)
    result = train(tiny_model, data, recipe, params, args.workspace, validation=validation)
    weights = {f"w{i}": w for i, w in enumerate(result.model.get_weights())}
    np.savez(
        args.out,
        start_step=result.start_step,
        final_step=result.final_step,
        history_steps=result.history["step"].to_numpy(),
        val_loss=result.history["val_loss"].to_numpy(),
        val_accuracy=result.history["val_accuracy"].to_numpy(),
        **weights,
    )


if __name__ == "__main__":
    main()
