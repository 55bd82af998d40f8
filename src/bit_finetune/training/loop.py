"""The custom distributed training loop.

Keras 3 ``model.fit`` fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585),
so training runs its own loop: ``strategy.run`` of a step function over a dataset from
``distribute_datasets_from_function``, SGD with momentum 0.9 on the HyperRule schedule,
checkpoints to resume after a crash, TensorBoard scalars and a tqdm bar on the chief,
and a validation pass every ``training.eval_every`` steps (:mod:`.validation`). The
step's graph functions are in :mod:`.steps` (each replica may sum the gradients of several
micro-batches into one step, :mod:`.micro_batch`), the history rows in :mod:`.history`.

Every worker of a cluster takes part in saving checkpoints (saving is collective), but
only the chief writes into the workspace; the others write to a private temporary folder
that is deleted afterwards. All workers restore from the workspace, so in a multi-machine
cluster it must live on a file system every worker can read. The workspace is the
recipe's own folder (:func:`~bit_finetune.training.workspaces.recipe_workspace`).
"""

from __future__ import annotations

import gc
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from bit_finetune import tracking
from bit_finetune.config import TrainingParams
from bit_finetune.errors import ConfigError, Interrupted, WorkerLostError
from bit_finetune.hyperrule import HyperRule
from bit_finetune.runtime.cluster import is_chief
from bit_finetune.runtime.interrupts import StopRequests
from bit_finetune.runtime.precision import (
    CANDIDATES,
    PrecisionChoice,
    add_precision,
    choose_precision,
    dtype_policy,
    read_precision,
    time_candidates,
)
from bit_finetune.runtime.strategy import (
    accelerator,
    choose_strategy,
    set_op_determinism,
    use_xla,
    worker_devices,
)
from bit_finetune.shards.transforms import as_unit_float
from bit_finetune.training import micro_batch, steps, summaries
from bit_finetune.training.checkpoints import latest_step, restore_newest_readable, save_checkpoint
from bit_finetune.training.history import History, empty_history, read_history, write_history
from bit_finetune.training.inputs import TrainData, pipeline_seeds, train_dataset
from bit_finetune.training.recipe import recipe_record, write_recipe
from bit_finetune.training.schedule import HyperRuleSchedule
from bit_finetune.training.validation import (
    Scores,
    ValidationData,
    validation_interval,
    validator,
)

logger = logging.getLogger(__name__)

MOMENTUM = 0.9
CHECKPOINTS_TO_KEEP = 3
GRID_SIDE = 4  # the MixUp sample summary shows up to GRID_SIDE x GRID_SIDE images
# How a collective op fails when a peer dies (connection reset) or stops answering
# (TensorFlow's coordination service misses its heartbeats for about 10 seconds).
PEER_FAILURES = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
)


@dataclass(frozen=True)
class TrainingResult:
    """The trained model, its history, and where this run started and stopped."""

    model: keras.Model
    history: pd.DataFrame
    start_step: int
    final_step: int


def train(
    build_model: Callable[[], keras.Model],
    data: TrainData,
    recipe: HyperRule | Mapping[str, Any],
    params: TrainingParams,
    workspace: Path,
    strategy: tf.distribute.Strategy | None = None,
    validation: ValidationData | None = None,
) -> TrainingResult:
    """Train ``build_model()`` on ``data`` following the HyperRule ``recipe``, in the
    recipe's own ``workspace`` folder, validating on ``validation`` on the way.

    Resumes from the latest checkpoint in ``<workspace>/checkpoints`` and always stops at
    ``recipe.total_steps``; a workspace already at that step is restored, not
    retrained. With ``training.resume`` false nothing is restored (give a fresh folder).
    """
    return Trainer(build_model, recipe, params, Path(workspace), strategy).run(data, validation)


def image_grid(images: tf.Tensor, side: int = GRID_SIDE) -> tf.Tensor:
    """Tile up to ``side * side`` images ``[B, H, W, C]`` into one ``[side*H, side*W, C]``."""
    images = tf.convert_to_tensor(images)[: side * side]
    count, height, width, channels = images.shape
    blank = tf.zeros([side * side - count, height, width, channels], images.dtype)
    rows = tf.reshape(tf.concat([images, blank], 0), [side, side, height, width, channels])
    return tf.reshape(tf.transpose(rows, [0, 2, 1, 3, 4]), [side * height, side * width, channels])


class Trainer:
    """One training run: model, optimizer and step counter under a strategy, in the
    recipe's folder ``workspace``, where ``record`` (default: the recipe record without
    its data) goes to ``recipe.json``.

    ``training.mixed_precision: auto`` on a CPU may time a few train steps of
    ``build_model()`` in float32 and in bfloat16 first (:mod:`bit_finetune.runtime.precision`);
    ``measure_precision`` false skips that (float32)."""

    def __init__(
        self,
        build_model: Callable[[], keras.Model],
        recipe: HyperRule | Mapping[str, Any],
        params: TrainingParams,
        workspace: Path,
        strategy: tf.distribute.Strategy | None = None,
        record: Mapping[str, Any] | None = None,
        measure_precision: bool = True,
    ) -> None:
        self.recipe, self.params, self.workspace = HyperRule.of(recipe), params, workspace
        self.build_model = build_model
        self.record = recipe_record(self.recipe, params, None) if record is None else record
        self.strategy = strategy or choose_strategy(params.strategy, params.cluster_start_timeout)
        self.device = device = accelerator(self.strategy)
        self.jit = use_xla(params.xla, device)
        self.chief = is_chief()
        self.global_batch = self._global_batch()
        self.precision = self._choose_precision(measure_precision)
        self.policy = self.precision.policy
        self.total_steps = self.recipe.total_steps
        self.eval_every = validation_interval(params.eval_every, self.total_steps, params.log_every)
        self.schedule = HyperRuleSchedule.from_recipe(self.recipe)
        logger.info(
            "Training on %s: %d replica(s), global batch %d, %s, XLA %s, %d steps",
            device,
            self.strategy.num_replicas_in_sync,
            self.global_batch,
            self.policy,
            "on" if self.jit else "off",
            self.total_steps,
        )
        keras.utils.set_random_seed(params.seed)
        set_op_determinism(params.deterministic)
        with self.strategy.scope(), dtype_policy(self.policy):
            self.model = build_model()
            optimizer = keras.optimizers.SGD(learning_rate=self.schedule, momentum=MOMENTUM)
            if self.policy == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.step = tf.Variable(
                0,
                dtype=tf.int64,
                trainable=False,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        self.gradients = steps.gradient_function(
            self.model, self.optimizer, self.global_batch, self.jit
        )
        self.micro_batch = self._micro_batch(self.model, self.policy)
        per_replica = self.global_batch // self.strategy.num_replicas_in_sync
        self.accumulation = per_replica // self.micro_batch
        if self.accumulation > 1:
            logger.info(
                "Gradient accumulation: %d micro-batches of %d per replica make each step's "
                "batch of %d",
                self.accumulation,
                self.micro_batch,
                self.global_batch,
            )

    def _global_batch(self) -> int:
        batch, replicas = self.recipe.batch_size, self.strategy.num_replicas_in_sync
        if batch % replicas:
            raise ConfigError(
                f"hyperrule.batch_size: {batch} does not split evenly over {replicas} "
                f"replicas; set hyperrule.batch_size to a multiple of {replicas}"
            )
        return batch

    def _choose_precision(self, measure: bool) -> PrecisionChoice:
        """The dtype policy to train in (:func:`~.precision.choose_precision`); a resumed
        training is given the choice recorded when its recipe started training."""
        resuming = self.params.resume and latest_step(self.workspace) > 0
        earlier = read_precision(self.workspace)[-1:] if resuming else []
        return choose_precision(
            self.params.mixed_precision,
            self.device,
            self._time_precisions if measure else None,
            multi_worker=isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy),
            deterministic=self.params.deterministic,
            earlier=earlier[0] if earlier else None,
        )

    def _time_precisions(self) -> dict[str, float]:
        """Images per second of a few train steps of ``build_model()`` in each candidate
        policy (:data:`~.precision.CANDIDATES`), each on the micro-batch it would train
        on; the models are thrown away."""
        runs, images = {}, {}
        for policy in CANDIDATES:
            runs[policy], images[policy] = self._candidate_step(policy)
        try:
            return time_candidates(runs, images)
        finally:
            runs.clear()
            gc.collect()

    def _candidate_step(self, policy: str) -> tuple[Callable[[], Any], int]:
        """A train step (forward, backward, SGD update) of a fresh model in ``policy`` on
        one micro-batch of random images, and that micro-batch's size."""
        with dtype_policy(policy):
            model = self.build_model()
            optimizer = keras.optimizers.SGD(learning_rate=1e-4, momentum=MOMENTUM)
            optimizer.build(model.trainable_variables)
        size = self._micro_batch(model, policy, log=False)
        crop, classes = self.recipe.crop_size, self.recipe.num_classes
        shape = micro_batch.example_shape(model, crop, size)
        images = tf.constant(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
        labels = tf.one_hot(tf.range(size) % classes, classes)
        gradients = steps.gradient_function(model, optimizer, size, self.jit)
        update = tf.function(steps.update_function(gradients, optimizer, model.trainable_variables))
        return lambda: update(images, labels)[0].numpy(), size

    def run(self, data: TrainData, validation: ValidationData | None = None) -> TrainingResult:
        """Restore the latest checkpoint, train on ``data`` up to ``total_steps``
        (validating on ``validation`` every :attr:`eval_every` steps), save, return."""
        if data.examples < 1:
            raise ValueError("tfrecord_shards: the train split is empty; nothing to train on")
        if self.chief:
            write_recipe(self.workspace, self.record)
        write_dir = self.workspace if self.chief else Path(tempfile.mkdtemp(prefix="bit-worker-"))
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step)
        folder = self.workspace / "checkpoints"
        latest = (
            restore_newest_readable(checkpoint, folder, chief=self.chief)
            if self.params.resume and folder.is_dir()
            else None
        )
        manager = tf.train.CheckpointManager(
            checkpoint, str(write_dir / "checkpoints"), max_to_keep=CHECKPOINTS_TO_KEEP
        )
        start = int(self.step.numpy())
        history = read_history(self.workspace, start) if latest else empty_history()
        if self.chief:
            tracking.start_training(self.workspace, start, history)
            precision = self.precision.record()
            tracking.log_precision(precision)
            if start < self.total_steps:
                add_precision(self.workspace, {"from_step": start + 1, **precision})
        try:
            if start >= self.total_steps:
                logger.info(
                    "Checkpoint %s is already at step %d of %d: restored, not retrained",
                    latest,
                    start,
                    self.total_steps,
                )
            else:
                if latest:
                    logger.info("Resuming from %s at step %d", latest, start)
                history = self._fit(data, validation, start, history, manager, write_dir)
        except PEER_FAILURES as exc:
            if not isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
                raise
            raise self._worker_lost(exc) from exc
        finally:
            if not self.chief:
                shutil.rmtree(write_dir, ignore_errors=True)
        return TrainingResult(self.model, history, start, int(self.step.numpy()))

    def _worker_lost(self, exc: tf.errors.OpError) -> WorkerLostError:
        cause = re.search(r"aborted by: ([^\n]+)", exc.message or "")
        saved = tf.train.latest_checkpoint(str(self.workspace / "checkpoints"))
        return WorkerLostError(
            f"training: lost another worker of the cluster at step {int(self.step.numpy())} "
            f"({cause[1].strip() if cause else type(exc).__name__}); every worker stops. "
            f"The last checkpoint is {saved or 'none yet'} in '{self.workspace}': start all "
            "workers again with the same command"
            f"{'' if self.params.resume else ' and training.resume: true'} to resume from it"
        )

    def _input_fn(
        self, data: TrainData, start: int
    ) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
        def input_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
            return train_dataset(
                data,
                self.recipe,
                self.params.augment,
                shuffle_buffer=self.params.shuffle_buffer,
                seeds=pipeline_seeds(self.params.seed, start, context.input_pipeline_id),
                context=context,
            )

        return input_fn

    def _micro_batch(self, model: keras.Model, policy: str, log: bool = True) -> int:
        """The ``training.micro_batch_size`` setting as a micro-batch per replica of
        ``model`` in ``policy`` (``log``: say what ``auto`` chose on a CPU)."""
        replicas = self.strategy.num_replicas_in_sync
        per_replica, setting = self.global_batch // replicas, self.params.micro_batch_size
        if setting is None:
            return per_replica
        if setting != "auto":
            return micro_batch.checked(setting, per_replica, replicas)
        crop = self.recipe.crop_size
        if self.device == "cpu":
            value_bytes = 4 if policy == "float32" else 2
            return micro_batch.cpu_micro_batch(model, per_replica, crop, value_bytes, log=log)
        return micro_batch.largest_that_runs(per_replica, self._try_micro_batch)

    def _try_micro_batch(self, size: int) -> None:
        """One forward and backward pass of ``size`` examples on the first replica's
        device, nothing applied: raises ``ResourceExhaustedError`` when it does not fit."""
        crop, classes = self.recipe.crop_size, self.recipe.num_classes
        images = tf.zeros(micro_batch.example_shape(self.model, crop, size), tf.uint8)
        labels = tf.one_hot(tf.zeros([size], tf.int32), classes)
        devices = worker_devices(self.strategy)
        with tf.device(devices[0] if devices else None):
            _, loss, _ = self.gradients(images, labels)
        float(loss)  # waits for the device

    def _validator(self, validation: ValidationData | None) -> Callable[[], Scores] | None:
        """This run's validation pass; None when validation is off or has no examples."""
        if self.eval_every is None:
            return None
        if validation is None or not validation.examples:
            logger.info("No validation examples: training runs without validation")
            return None
        replicas = self.strategy.num_replicas_in_sync
        return validator(
            self.model,
            validation,
            self.strategy,
            batch_size=self.micro_batch * replicas,  # a forward pass that fits in training
            jit=self.jit,
        )

    def _fit(
        self,
        data: TrainData,
        validation: ValidationData | None,
        start: int,
        history: pd.DataFrame,
        manager: tf.train.CheckpointManager,
        write_dir: Path,
    ) -> pd.DataFrame:
        """Train from ``start`` to ``total_steps``, validating on the way; return the
        history extended by it."""
        params = self.params
        batches = self.strategy.distribute_datasets_from_function(self._input_fn(data, start))
        variables = self.model.trainable_variables
        update = steps.update_function(
            steps.accumulated(self.gradients, variables, self.accumulation),
            self.optimizer,
            variables,
        )
        one, many = steps.train_functions(self.strategy, update, self.step, batches.element_spec)
        validate = self._validator(validation)
        eval_every = self.eval_every if validate else None
        writer = (
            tf.summary.create_file_writer(str(write_dir / "tensorboard"))
            if self.chief
            else tf.summary.create_noop_writer()
        )
        iterator = iter(batches)
        log = History(history, start, self.total_steps, self.global_batch, self.schedule,
                      self.chief, progress=self.chief and params.progress)  # fmt: skip
        # A cluster's workers keep the default handlers: one alone cannot stop at a step
        # boundary (the others would wait for it in the next collective).
        multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        requests = nullcontext(StopRequests()) if multi_worker else StopRequests()
        with writer.as_default(), log, requests as stop:
            done = start
            while done < self.total_steps:
                if done == start:
                    count, (loss, correct) = 1, one(self._first_batch(iterator, done))
                else:
                    count = self._steps_to_boundary(done, eval_every)
                    loss, correct = many(iterator, tf.constant(count, tf.int64))
                done += count
                log.add(loss, correct, count)
                validating = eval_every is not None and self._due(done, eval_every)
                if validating or self._due(done, params.log_every):
                    row = log.row(done)
                    if validating:  # after the row's clock: throughput excludes validation
                        row.update(self._validate(validate, done))
                    log.append(row)
                if self._due(done, params.checkpoint_every) or stop.signal is not None:
                    with log.paused():  # throughput excludes saving
                        if self.chief:  # history first: it then always reaches the checkpoint
                            write_history(write_dir, log.frame())
                        save_checkpoint(manager, done)
                if stop.signal is not None and done < self.total_steps:
                    raise Interrupted(done, stop.signal)
        writer.flush()
        logger.info(
            "Trained steps %d-%d; final checkpoint in %s",
            start + 1,
            self.total_steps,
            manager.directory,
        )
        return log.frame()

    def _first_batch(self, iterator: Any, done: int) -> Any:
        """The next batch, its first images also shown in TensorBoard."""
        batch = next(iterator)
        first = self.strategy.experimental_local_results(batch[0])[0]
        if first.shape.rank == 4:
            summaries.image("mixup_sample", image_grid(as_unit_float(first)), step=done + 1)
        return batch

    def _due(self, done: int, every: int) -> bool:
        """Whether something done ``every`` steps (and at the end) is due after ``done``."""
        return done % every == 0 or done == self.total_steps

    def _steps_to_boundary(self, done: int, eval_every: int | None) -> int:
        """Steps of the next graph call: up to ``steps_per_call``, never past the next
        log row, checkpoint, validation (every ``eval_every`` steps, if any) or the last
        step."""
        params = self.params
        every = (params.log_every, params.checkpoint_every, eval_every)
        return min(
            params.steps_per_call,
            self.total_steps - done,
            *(period - done % period for period in every if period),
        )

    def _validate(self, validate: Callable[[], Scores], done: int) -> dict[str, float]:
        """A validation pass after step ``done``, logged: its history columns."""
        scores = validate()
        with tqdm.external_write_mode():  # the log line goes above the progress bar
            logger.info(
                "Validation at step %d/%d: top-1 %.3f, loss %.3f",
                done,
                self.total_steps,
                scores.accuracy,
                scores.loss,
            )
        return {"val_loss": scores.loss, "val_accuracy": scores.accuracy}
