"""GPU fine-tuning speed (figure 7): BiT R50x1 at 480x480, bfloat16 and XLA.

Needs a GPU; elsewhere it prints a "not run: no GPU" result and exits (``--smoke`` runs
the same code at 64x64 on the CPU, to check it). On a GPU it times two things:

- the train step alone: forward, backward and SGD-with-momentum update of R50x1 under
  the ``mixed_bfloat16`` policy, ``jit_compile=True``, on a batch already on the device;
- our training loop (``bit_finetune.training.loop.train``, ``mixed_precision:
  bfloat16``, ``xla: on``) on in-memory 512x512 images with random 480 crops and flips:
  the same step fed by the real input pipeline.

Model FLOPs utilisation = 3 x forward FLOPs per image (TensorFlow's graph profiler, a
multiply-add counts 2; backward ~ 2x forward) x images/s / the peak dense bf16 FLOP/s
(H200: 989 TFLOP/s). Budget: a few minutes of GPU time, mostly XLA compilation.

    python bench/gpu_mfu.py [--batch 128] [--steps 30] [--peak-tflops 989] [--skip-loop]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from common import emit, result

from bit_finetune.bit.classifier import build_classifier
from bit_finetune.config import stage_params
from bit_finetune.runtime.precision import dtype_policy
from bit_finetune.training.inputs import TrainData
from bit_finetune.training.loop import train

MIN_MFU = 0.40
CLASSES = 1000
WARMUP = 3


def forward_flops(size: int) -> float:
    """Forward FLOPs per image of R50x1 at ``size`` (float32 graph, batch 8)."""
    model = build_classifier("R50x1", CLASSES)
    batch = 8
    spec = tf.TensorSpec([batch, size, size, 3], tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops / batch


def step_speed(size: int, batch: int, steps: int, policy: str, xla: bool) -> float:
    """images/s of the compiled train step on a device-resident batch."""
    with dtype_policy(policy):
        model = build_classifier("R50x1", CLASSES)
    optimizer = keras.optimizers.SGD(0.003, momentum=0.9)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((batch, size, size, 3), np.float32))
    labels = tf.one_hot(np.arange(batch) % CLASSES, CLASSES)

    @tf.function(jit_compile=xla)
    def step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels, logits))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    start = time.perf_counter()
    for _ in range(WARMUP):
        step(images, labels).numpy()
    print(f"step compiled and warmed up in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(images, labels)
    loss.numpy()
    return steps * batch / (time.perf_counter() - start)


def loop_speed(size: int, batch: int, steps: int, precision: str, xla: str) -> float:
    """images/s of our training loop on in-memory images (random crops to ``size``)."""
    stored = size + size // 15  # 480 -> 512, as the HyperRule stores them
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2 * batch, stored, stored, 3), dtype=np.uint8)
    labels = np.arange(len(images), dtype=np.int64) % CLASSES
    data = TrainData(
        read=lambda files: tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": labels}).cache(),
        examples=len(images),
    )
    log_every = max(1, steps // 3)
    recipe = {
        "resize_size": stored, "crop_size": size, "batch_size": batch, "num_classes": CLASSES,
        "learning_rate": 0.003, "warmup_steps": 1, "lr_boundaries": [10**6] * 3,
        "total_steps": log_every + steps, "mixup_alpha": 0.0,
    }
    params = stage_params("training", {
        "model": {"architecture": "R50x1", "weights": "random"},
        "mixed_precision": precision, "xla": xla, "log_every": log_every,
        "checkpoint_every": 10**6, "shuffle_buffer": 2 * batch, "progress": False,
    })
    with tempfile.TemporaryDirectory() as workspace:
        run = train(lambda: build_classifier("R50x1", CLASSES), data, recipe, params,
                    Path(workspace))
    windows = run.history["images_per_second"].iloc[1:]  # the first holds compilation
    return len(windows) / sum(1 / r for r in windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=480)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="peak dense bf16 TFLOP/s of the GPU (H200: 989)")
    parser.add_argument("--skip-loop", action="store_true", help="time the step only")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU check of the code: 64x64, batch 4, float32, no XLA")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    figure = f"7. GPU: R50x1 fine-tuning {args.size}x{args.size}, bf16 + XLA (MFU)"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.smoke:
        print("no GPU: not run")
        emit([result(figure, None, None, f"MFU >= {MIN_MFU:.0%}", None,
                     notes="not run: no GPU on this machine")])
        return
    if args.smoke:
        args.size, args.batch, args.steps = 64, 4, 3
    policy, precision, xla = (
        ("float32", "off", "off") if args.smoke else ("mixed_bfloat16", "bfloat16", "on")
    )
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus \
        else "CPU (smoke test)"
    flops = 3 * forward_flops(args.size)
    print(f"{device}: R50x1 {args.size}x{args.size}, batch {args.batch}, {policy}, XLA {xla}; "
          f"train step {flops / 1e9:.1f} GFLOPs per image")
    peak = args.peak_tflops * 1e12
    step_rate = step_speed(args.size, args.batch, args.steps, policy, xla == "on")
    mfu = step_rate * flops / peak
    print(f"train step: {step_rate:,.0f} images/s, {step_rate * flops / 1e12:,.1f} TFLOP/s, "
          f"MFU {mfu:.1%} of {args.peak_tflops:g} TFLOP/s")
    notes = f"{device}, batch {args.batch}, {flops / 1e9:.0f} GFLOPs/image (3x forward)"
    if not args.skip_loop:
        loop_rate = loop_speed(args.size, args.batch, args.steps, precision, xla)
        print(f"training loop with its input pipeline: {loop_rate:,.0f} images/s, MFU "
              f"{loop_rate * flops / peak:.1%}")
        notes += f"; our loop with its input pipeline: {loop_rate:,.0f} img/s, MFU " \
                 f"{loop_rate * flops / peak:.1%}"
    emit([result(figure, mfu, MIN_MFU, f"MFU >= {MIN_MFU:.0%}", mfu >= MIN_MFU, "MFU",
                 f"train step {step_rate:,.0f} img/s; {notes}", ratio=mfu / MIN_MFU)])


if __name__ == "__main__":
    main()
