"""Training-step speed (figure 4): our custom loop against Keras ``fit``, and BiT R50x1
against Keras' ResNet50V2.

Part 1, loop overhead: the embedded default's model, resolution and batch
(``conf/base/parameters``), trained on the same in-memory images through the same
``train_dataset`` input function, by ``bit_finetune.training.loop.train`` (default
strategy) and by ``model.fit`` (same SGD, HyperRule schedule, loss and accuracy metric,
``jit_compile=False`` as our loop on a CPU), each with its own defaults: our loop runs
``training.steps_per_call`` steps per graph call, ``fit`` one (``steps_per_execution``
1). Runs alternate; each gives its images/s
over the steps after ``WARMUP_STEPS`` (loop: its own throughput log; fit: from the end
of one batch to the end of the last); the best run of each side counts.

Part 2, model cost at 128x128, batch 32, one shared plain SGD step, one step of each
model in turn (round robin) so that all see the same background load:

- ``BiT R50x1``: GN + WS, as ``build_classifier`` builds it;
- ``... WS analytic grad``: the weight standardisation with a hand-written gradient
  (the same forward values; tried to make WS cheaper, see bench/README.md);
- ``... WS off``: plain convolutions (WS cost);
- ``... WS off, BN``: plain convolutions and batch norm instead of group norm (GN cost);
- ``keras ResNet50V2``: ``keras.applications.ResNet50V2(weights=None)`` (batch norm).

Forward FLOPs (TensorFlow's graph profiler, batch 1) explain the part of the gap that is
the architecture itself: BiT strides in the first unit of a stage, Keras in the last.

    python bench/train_speed.py [--steps 20] [--repeat 2] [--rounds 6] [--skip-models]
    python bench/train_speed.py --profile   # where the default model's step time goes
    python bench/train_speed.py --profile-loop  # op types per step: our loop and fit
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from common import best_of, embedded_default, emit, pairs, result
from keras import ops

from bit_finetune.bit import backbone, layers
from bit_finetune.bit.classifier import build_classifier
from bit_finetune.config import stage_params
from bit_finetune.hyperrule import HyperRule
from bit_finetune.shards.transforms import as_unit_float
from bit_finetune.training.inputs import TrainData, pipeline_seeds, train_dataset
from bit_finetune.training.loop import train
from bit_finetune.training.schedule import HyperRuleSchedule

WARMUP_STEPS = 10
"""Steps left out of the training-loop figures: the first holds tracing and warm-up."""
ROUND_ROBIN_WARMUP = 2
CLASSES = 10
MODEL_SIZE, MODEL_BATCH = 128, 32


def smooth_images(count: int, size: int, seed: int) -> np.ndarray:
    """Photo-like uint8 images: colour gradients plus a block, mild noise."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, size, dtype=np.float32)
    out = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        image = rng.uniform(0, 255, 3) + np.outer(grid, grid)[..., None] * rng.uniform(-150, 150, 3)
        x0, y0 = rng.integers(0, size // 2, 2)
        image[y0 : y0 + size // 3, x0 : x0 + size // 3] += rng.uniform(-90, 90, 3)
        image += rng.normal(0, 5, image.shape)
        out[i] = np.clip(image, 0, 255).astype(np.uint8)
    return out


def memory_data(size: int, batch: int) -> TrainData:
    """In-memory training images at ``size`` (no decoding: the model's cost alone)."""
    images = smooth_images(max(batch, 64), size, seed=0)
    labels = np.arange(len(images), dtype=np.int64) % CLASSES
    return TrainData(
        read=lambda files: tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": labels}
        ).cache(),
        examples=len(images),
    )


def short_recipe(recipe: dict, crop: int, batch: int, steps: int) -> dict:
    """``recipe`` at ``crop`` and ``batch``, for ``steps`` steps after the warm-up ones."""
    total = WARMUP_STEPS + steps
    return {
        **recipe, "resize_size": crop, "crop_size": crop, "batch_size": batch,
        "num_classes": CLASSES, "total_steps": total, "warmup_steps": 1,
        "lr_boundaries": [total - 1] * 3,
    }


def training_speed(architecture: str, crop: int, batch: int, steps: int, recipe: dict,
                   training: dict) -> float:
    """images/second of our training loop over ``steps`` steps after the warm-up ones
    (in-memory input at crop size; the loop's own throughput log, one row per
    ``WARMUP_STEPS`` steps)."""
    params = stage_params("training", {
        **training, "model": {"architecture": architecture, "weights": "random"},
        "strategy": "default", "log_every": WARMUP_STEPS, "checkpoint_every": 10**6,
        "eval_every": None, "progress": False,  # the loop's own throughput, no validation
        "mixed_precision": "off",  # float32 as fit: not auto's timed choice (figure 9)
    })
    with tempfile.TemporaryDirectory() as workspace:
        run = train(
            lambda: build_classifier(architecture, CLASSES, "random"),
            memory_data(crop, batch), short_recipe(recipe, crop, batch, steps), params,
            Path(workspace),
        )
    windows = run.history["images_per_second"].iloc[1:]  # the first holds the tracing
    return len(windows) / sum(1 / r for r in windows)  # images over seconds


class StepClock(keras.callbacks.Callback):
    """When every training batch ended."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.ends.append(time.perf_counter())


def fit_speed(architecture: str, crop: int, batch: int, steps: int, recipe: dict,
              training: dict) -> float:
    """images/second of ``model.fit`` on the same model, data and batch, over the steps
    after the warm-up ones (end of batch to end of batch: all of fit's work)."""
    settings = stage_params("training", training)
    run_recipe = HyperRule.of(short_recipe(recipe, crop, batch, steps))
    keras.utils.set_random_seed(settings.seed)
    model = build_classifier(architecture, CLASSES, "random")
    model.compile(
        optimizer=keras.optimizers.SGD(HyperRuleSchedule.from_recipe(run_recipe), momentum=0.9),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["categorical_accuracy"],
        jit_compile=False,
    )
    data = train_dataset(
        memory_data(crop, batch), run_recipe, settings.augment,
        shuffle_buffer=settings.shuffle_buffer, seeds=pipeline_seeds(settings.seed, 0, 0),
        context=tf.distribute.InputContext(),
    ).map(lambda images, labels: (as_unit_float(images), labels))  # our loop: in the step
    clock = StepClock()
    model.fit(data, epochs=1, steps_per_epoch=run_recipe.total_steps, callbacks=[clock],
              shuffle=False,  # train_dataset shuffles
              verbose=0)
    timed = clock.ends[WARMUP_STEPS - 1 :]
    return (len(timed) - 1) * batch / (timed[-1] - timed[0])


class AnalyticGradientWS(layers.StandardizedConv2D):
    """WS with a hand-written gradient: dk = (dy - mean(dy) - y * mean(dy * y)) / std."""

    def call(self, inputs: Any) -> Any:
        kernel = standardize(ops.cast(self.kernel, "float32"))
        if self.padding:
            p = self.padding
            inputs = ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
        return ops.conv(
            inputs, ops.cast(kernel, inputs.dtype), strides=self.strides, padding="valid"
        )


@tf.custom_gradient
def standardize(kernel: tf.Tensor):
    mean, variance = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
    inverse = ops.rsqrt(variance + layers.STANDARDIZATION_EPSILON)
    standardized = (kernel - mean) * inverse

    def gradient(upstream: tf.Tensor) -> tf.Tensor:
        centred = upstream - tf.reduce_mean(upstream, [0, 1, 2], keepdims=True)
        along = tf.reduce_mean(upstream * standardized, [0, 1, 2], keepdims=True)
        return inverse * (centred - standardized * along)

    return standardized, gradient


class PlainConv(layers.StandardizedConv2D):
    """The same padding and convolution without the weight standardisation."""

    def call(self, inputs: Any) -> Any:
        if self.padding:
            p = self.padding
            inputs = ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])
        return ops.conv(
            inputs, ops.cast(self.kernel, inputs.dtype), strides=self.strides, padding="valid"
        )


def batch_norm(groups: int, name: str) -> keras.layers.Layer:
    return keras.layers.BatchNormalization(name=name)


def bit_r50(conv: type | None = None, norm: Callable | None = None) -> keras.Model:
    """BiT R50x1, optionally with another convolution layer or normalisation."""
    patches = [mock.patch.object(backbone, "StandardizedConv2D", conv)] if conv else []
    patches += [mock.patch.object(backbone, "_group_norm", norm)] if norm else []
    for patch in patches:
        patch.start()
    try:
        return build_classifier("R50x1", CLASSES)
    finally:
        for patch in patches:
            patch.stop()


MODELS: dict[str, Callable[[], keras.Model]] = {
    "BiT R50x1 (GN + WS)": bit_r50,
    "BiT R50x1, WS analytic grad": lambda: bit_r50(conv=AnalyticGradientWS),
    "BiT R50x1, WS off": lambda: bit_r50(conv=PlainConv),
    "BiT R50x1, WS off, BN": lambda: bit_r50(conv=PlainConv, norm=batch_norm),
    "keras ResNet50V2 (BN)": lambda: keras.applications.ResNet50V2(
        weights=None, input_shape=(MODEL_SIZE, MODEL_SIZE, 3), classes=CLASSES,
        classifier_activation=None),
}


def plain_step(model: keras.Model) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """One SGD-with-momentum step on softmax cross-entropy (no distribution, no XLA)."""
    optimizer = keras.optimizers.SGD(0.003, momentum=0.9)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels, logits))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return step


def forward_gflops(model: keras.Model, size: int, batch: int) -> float:
    """Forward FLOPs per image in a batch of ``batch`` (a multiply-add counts 2), from
    TensorFlow's graph profiler; the per-batch weight standardisation is shared."""
    spec = tf.TensorSpec([batch, size, size, 3], tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops / batch / 1e9


def model_speeds(rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best images/s of each model (round robin, one step each per round) and GFLOPs."""
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((MODEL_BATCH, MODEL_SIZE, MODEL_SIZE, 3), np.float32))
    labels = tf.one_hot(np.arange(MODEL_BATCH) % CLASSES, CLASSES)
    steps, gflops = {}, {}
    for name, build in MODELS.items():
        keras.utils.set_random_seed(0)
        model = build()
        gflops[name] = forward_gflops(model, MODEL_SIZE, MODEL_BATCH)
        steps[name] = plain_step(model)
        for _ in range(ROUND_ROBIN_WARMUP):
            steps[name](images, labels).numpy()
    seconds: dict[str, list[float]] = {name: [] for name in MODELS}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step(images, labels).numpy()
            seconds[name].append(time.perf_counter() - start)
    return {name: MODEL_BATCH / min(s) for name, s in seconds.items()}, gflops


NORMALISATION_OPS = {"Mean", "Mul", "Tile", "SquaredDifference", "Sub", "Sum", "AddV2",
                     "Rsqrt", "RsqrtGrad", "Neg", "RealDiv", "BroadcastTo"}
"""Op types of group norm and weight standardisation (forward and backward) on a CPU."""


def traced_ops(run: Callable[[], Any]) -> tuple[Any, dict[str, float], dict[str, float]]:
    """``run()``'s result, and the milliseconds and number of events of every op type it
    ran (TensorFlow profiler, all threads)."""
    import collections
    import glob

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as folder:
        tf.profiler.experimental.start(folder)
        value = run()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(Path(glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)[0])
                              .read_bytes())
    ms: collections.Counter = collections.Counter()
    events: collections.Counter = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "/" in name:  # "scope/op_name:OpType"
                    op_type = name.rsplit(":", 1)[1]
                    ms[op_type] += event.duration_ps / 1e9
                    events[op_type] += 1
    return value, ms, events


def op_profile(architecture: str, size: int, batch: int, steps: int = 5) -> None:
    """Print where the time of a training step goes, by op type (TensorFlow profiler)."""
    keras.utils.set_random_seed(0)
    step = plain_step(build_classifier(architecture, CLASSES))
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((batch, size, size, 3), np.float32))
    labels = tf.one_hot(np.arange(batch) % CLASSES, CLASSES)
    for _ in range(ROUND_ROBIN_WARMUP):
        step(images, labels).numpy()

    def run() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step(images, labels).numpy()
        return (time.perf_counter() - start) / steps

    wall, by_type, _ = traced_ops(run)
    by_type = {name: ms / steps for name, ms in by_type.items()}
    total = sum(by_type.values())
    conv = sum(v for k, v in by_type.items() if "Conv2D" in k)
    norm = sum(v for k, v in by_type.items() if k in NORMALISATION_OPS)
    print(f"profile {architecture} {size}x{size} batch {batch}: {wall * 1000:.0f} ms/step wall, "
          f"{total:.0f} ms of ops (2 cores); convolutions {conv / total:.0%}, GN/WS "
          f"element-wise ops and reductions {norm / total:.0%}")
    for name, ms in sorted(by_type.items(), key=lambda item: -item[1])[:10]:
        print(f"  {name:<34} {ms:8.1f} ms  {ms / total:6.1%}")


def loop_profile(architecture: str, recipe: dict, training: dict, steps: int) -> None:
    """Print the op time per step, by op type, of our loop and of ``fit`` on the same
    model, data and steps (figure 4a's set-up): what each side's graph runs."""
    crop, batch = int(recipe["crop_size"]), int(recipe["batch_size"])
    total = steps + WARMUP_STEPS
    sides = {
        "loop": traced_ops(lambda: training_speed(architecture, crop, batch, steps, recipe,
                                                  training)),
        "fit": traced_ops(lambda: fit_speed(architecture, crop, batch, steps, recipe, training)),
    }  # fmt: skip
    for name, (rate, ms, events) in sides.items():
        print(f"{name:>4}: {rate:7.1f} images/s, {sum(ms.values()) / total:6.1f} ms of ops and "
              f"{sum(events.values()) / total:5.0f} op events per step ({total} steps)")
    (_, loop_ms, loop_n), (_, fit_ms, fit_n) = sides.values()
    print(f"  {'op type':<32} {'loop ms':>8} {'fit ms':>8} {'loop n':>7} {'fit n':>7}  per step")
    for op in sorted(set(loop_ms) | set(fit_ms), key=lambda k: -(loop_ms[k] + fit_ms[k]))[:20]:
        print(f"  {op:<32} {loop_ms[op] / total:8.2f} {fit_ms[op] / total:8.2f} "
              f"{loop_n[op] / total:7.1f} {fit_n[op] / total:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20,
                        help=f"timed steps per loop run (a multiple of {WARMUP_STEPS})")
    parser.add_argument("--repeat", type=int, default=6, help="alternating loop runs")
    parser.add_argument("--rounds", type=int, default=4, help="timed steps per R50 model")
    parser.add_argument("--skip-models", action="store_true", help="only part 1")
    parser.add_argument("--profile", action="store_true",
                        help="only print the op-type profile of the default model's step")
    parser.add_argument("--profile-loop", action="store_true",
                        help="only print the op types our loop and fit run per step")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    architecture, recipe, training = embedded_default()
    crop, batch = int(recipe["crop_size"]), int(recipe["batch_size"])
    if args.profile:
        op_profile(architecture, crop, batch)
        return
    if args.profile_loop:
        loop_profile(architecture, recipe, training, args.steps)
        return
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores, "
          f"load {os.getloadavg()[0]:.1f}")
    rates = best_of(
        {
            "custom loop": lambda: training_speed(architecture, crop, batch, args.steps,
                                                  recipe, training),
            "keras fit": lambda: fit_speed(architecture, crop, batch, args.steps, recipe,
                                           training),
        },
        args.repeat,
    )
    for name, runs in rates.items():
        print(f"{architecture} {crop}x{crop} batch {batch}, {name:>11}: best "
              f"{max(runs):7.1f} images/s (runs: {' '.join(f'{r:.1f}' for r in runs)})")
    ours, fit = max(rates["custom loop"]), max(rates["keras fit"])
    rows = [result(
        f"4a. training step, {architecture} {crop}x{crop} batch {batch}: custom loop vs "
        "Keras fit (images/s)", ours, fit, ">= 1.0x", ours / fit >= 1.0, "img/s",
        f"default strategy, float32, no XLA; our loop at its default steps_per_call "
        f"{stage_params('training', training).steps_per_call}, fit at its default steps_per_execution 1; "
        f"{args.steps} steps after {WARMUP_STEPS} "
        f"warm-up steps, best of {args.repeat} alternating runs; "
        + pairs(rates, "custom loop", "keras fit"),
    )]
    if not args.skip_models:
        speeds, gflops = model_speeds(args.rounds)
        first = next(iter(speeds))
        for name, speed in speeds.items():
            print(f"{name:<30} {speed:6.1f} images/s  {speeds[first] / speed:5.2f}x the time "
                  f"of BiT  forward {gflops[name]:.2f} GFLOPs/image")
        keras_name = "keras ResNet50V2 (BN)"
        breakdown = "; ".join(
            f"{name}: {speed:.1f} img/s, {gflops[name]:.2f} GFLOPs"
            for name, speed in speeds.items()
        )
        rows.append(result(
            f"4b. BiT R50x1 vs keras ResNet50V2, {MODEL_SIZE}x{MODEL_SIZE} batch "
            f"{MODEL_BATCH} (images/s)", speeds[first], speeds[keras_name],
            "report and explain", None, "img/s",
            f"best of {args.rounds} round-robin steps; {breakdown}",
        ))
    emit(rows)


if __name__ == "__main__":
    main()
