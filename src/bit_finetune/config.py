"""Typed, validated parameters for every stage.

Each stage's ``params:<stage>`` mapping is parsed into a frozen dataclass. Unknown keys,
wrong types, values out of range and values outside an allowed set raise
:class:`ConfigError` naming the full key and the fix, before any heavy work: the
``ParameterValidationHook`` parses all sections when a run starts.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bit_finetune.core.architectures import get_architecture, npz_architecture
from bit_finetune.core.published import published_weights
from bit_finetune.errors import ArchitectureError, ConfigError, WeightsError, naming_keys
from bit_finetune.hyperrule import OVERRIDABLE, BatchPolicy


def bounded(default: Any, *, lo: float | None = None, hi: float | None = None) -> Any:
    """A dataclass field with an inclusive numeric range."""
    return field(default=default, metadata={"lo": lo, "hi": hi})


@dataclass(frozen=True)
class SplitFractions:
    train: float = bounded(0.8, lo=0.0, hi=1.0)
    """Share of the examples in the train split, for a source that defines none (0 to 1)."""
    validation: float = bounded(0.1, lo=0.0, hi=1.0)
    """Share of the examples in the validation split, for a source that defines none (0 to 1)."""
    test: float = bounded(0.1, lo=0.0, hi=1.0)
    """Share of the examples in the test split, for a source that defines none (0 to 1)."""


@dataclass(frozen=True)
class IngestionParams:
    seed: int = 42
    """Seed of the splits made here and of the few-shot sample."""
    split_fractions: SplitFractions = SplitFractions()
    """Used only for the splits the source does not define; must add up to 1."""
    examples_per_class: int | None = bounded(None, lo=1)
    """Few-shot mode: keep a seeded sample of k training examples per class (null: all)."""
    min_classes: int = bounded(2, lo=2)
    """Fewest classes the source may have; fewer stops the run."""

    def __post_init__(self) -> None:
        s = self.split_fractions
        total = s.train + s.validation + s.test
        if abs(total - 1.0) > 1e-6 or s.train <= 0:
            raise ConfigError(
                f"ingestion.split_fractions: train {s.train} + validation {s.validation} "
                f"+ test {s.test} = {total:g}; they must add up to 1 with train > 0"
            )


@dataclass(frozen=True)
class ProfilingParams:
    verify_decode: bool = False
    """Sizes come from image headers; true also decodes every image to prove it is readable."""
    workers: int = bounded(2, lo=1)
    """Processes for full decodes (verify_decode: true)."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class FilteringParams:
    enabled: bool = False
    """Apply the filters below; undecodable images are always excluded and reported, whatever it
    says."""
    min_side: int = bounded(1, lo=1)
    """Pixels; an image whose shorter side is smaller is rejected as too small."""
    max_side: int | None = bounded(None, lo=1)
    """Pixels; an image whose longer side is larger is rejected as too large (null: no limit)."""
    max_aspect_ratio: float | None = bounded(None, lo=1.0)
    """Long side / short side; a larger ratio is rejected (null: no limit)."""
    deduplicate: bool = False
    """Drop files whose bytes repeat an earlier file's."""


@dataclass(frozen=True)
class HyperRuleParams:
    """After parsing, every override is ``{"value": ..., "reason": ...}``: a plain value
    gets ``override_reason`` (or says it had none), a list of steps may be given as one
    string of numbers separated by spaces (``--params`` cannot carry commas)."""

    batch_size: int = bounded(512, lo=1)
    """Images per optimiser step, split over all replicas (the HyperRule's own: 512);
    training.micro_batch_size keeps it within any memory."""
    batch_policy: BatchPolicy = "official"
    """official: LR 0.003 and the step counts as published, whatever the batch; colab: LR x
    batch/512 and steps x 512/batch (the TF2 colab's linear scaling)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Derived values to replace, each {value: ..., reason: ...} or just the value."""
    override_reason: str | None = None
    """The reason recorded for overrides given as a plain value, without one."""

    def __post_init__(self) -> None:
        overrides = {key: self._override(key, spec) for key, spec in self.overrides.items()}
        object.__setattr__(self, "overrides", overrides)

    def _override(self, key: str, spec: Any) -> dict[str, Any]:
        name = f"hyperrule.overrides.{key}"
        if key not in OVERRIDABLE:
            raise ConfigError(f"{name}: not a HyperRule value; choose from {sorted(OVERRIDABLE)}")
        if isinstance(spec, Mapping):
            if set(spec) - {"value", "reason"} or "value" not in spec:
                raise ConfigError(f"{name}: give {{value: ..., reason: ...}} or just the value")
            value, reason = spec["value"], spec.get("reason")
        else:
            value, reason = spec, self.override_reason
        kind, lo = OVERRIDABLE[key]
        if kind is list:
            value = [_value(int, step, name, {"lo": lo}) for step in _steps(value, name)]
        else:
            value = _value(kind, value, name, {"lo": lo})
        return {"value": value, "reason": reason or "set in the parameters, no reason given"}


def _steps(value: Any, key: str) -> list[Any]:
    """A list of steps as given: a list, one number, or numbers separated by spaces."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        words = value.replace(",", " ").split()
        try:
            return [int(word) for word in words]
        except ValueError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        return [value]
    raise ConfigError(
        f"{key}: expected a list of steps, got {value!r}; e.g. [300, 600, 900] in YAML, "
        f'or "{key}=300 600 900" on the command line ([] for none)'
    )


@dataclass(frozen=True)
class PreprocessingParams:
    encoding: Literal["jpeg", "png", "raw"] = "jpeg"
    """jpeg, png or raw (uint8 pixels: fastest to read, size*size*3 bytes each)."""
    jpeg_quality: int = bounded(95, lo=1, hi=100)
    """JPEG quality of the shards' images when encoding is jpeg (1 to 100)."""
    examples_per_shard: int = bounded(1024, lo=1)
    """Examples per TFRecord shard file."""
    workers: int = bounded(2, lo=1)
    """Processes that encode the images."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class ModelParams:
    """``architecture`` None: the published weights' size (``weights: BiT-M-R50x3``), or
    the size of the weights in a local ``.npz`` file, else R50x1; after parsing it always
    holds a name. ``cache_dir`` and ``base_url`` None: the
    default weights cache and the official release (see :mod:`bit_finetune.bit.download`)."""

    architecture: str | None = None
    """R50x1, R101x3, ...; null: the published weights' size, or that of a local .npz file,
    else R50x1."""
    weights: str = "random"
    """random, a published name (downloaded once into the weights cache; the name fixes the
    architecture), a path or URL to an official .npz file, or a TF Hub handle / SavedModel dir."""
    cache_dir: str | None = None
    """Published weights cache; null: $BIT_FINETUNE_CACHE, else
    $XDG_CACHE_HOME/bit_finetune/weights (~/.cache/...)."""
    base_url: str | None = None
    """Where published weights are downloaded from; null:
    https://storage.googleapis.com/bit_models."""
    download_wait: float = bounded(3600.0, lo=1.0)
    """Seconds a cluster's workers wait for the chief's download."""

    def __post_init__(self) -> None:
        published = None if self.weights == "random" else published_weights(self.weights)
        if self.architecture is None:
            found = None if published else self.file_architecture()
            architecture = published.architecture if published else found or "R50x1"
            object.__setattr__(self, "architecture", architecture)
            return
        chosen = get_architecture(self.architecture)  # an unknown name raises
        if published is not None and chosen != get_architecture(published.architecture):
            raise ArchitectureError(
                f"{self.architecture} contradicts the weights {published.name}, which are "
                f"{published.architecture} weights; omit the architecture (the weights name "
                "fixes it) or choose other weights",
            )

    def file_architecture(self) -> str | None:
        """The architecture of the weights in a local ``.npz`` file, read from the file."""
        if not (self.weights.lower().endswith(".npz") and os.path.isfile(self.weights)):
            return None
        found = npz_architecture(self.weights)
        return found.name if found else None

    def check_weights_exist(self) -> None:
        """Raise when ``weights`` names a local file or folder that is not there (checked
        only when training runs, so the data stages need no weights)."""
        if self.weights == "random" or "://" in self.weights or os.path.exists(self.weights):
            return
        if published_weights(self.weights) is None:
            raise WeightsError(
                f"'{self.weights}' not found; point it at an official BiT .npz file, a TF "
                "Hub handle or a SavedModel directory, give a published name such as "
                "'BiT-M-R50x1', or use 'random'",
            )


@dataclass(frozen=True)
class AugmentParams:
    random_crop: bool = True
    """Cut a random crop_size square from each training image (false: resize it to crop_size)."""
    random_flip: bool = True
    """Mirror each training image left-right with probability 1/2."""


@dataclass(frozen=True)
class TrainingParams:
    """``training``. ``mixed_precision``: ``off`` (float32), ``bfloat16``, ``float16``
    (Keras mixed precision; the head and the loss stay float32), or ``auto``: bfloat16 on a
    GPU or TPU; on a CPU, bfloat16 only where the CPU has native bfloat16 (``avx512_bf16``
    or ``amx_bf16``) and a few train steps of each, timed before training, show it faster
    for this model, batch and resolution, else float32 (see
    :mod:`bit_finetune.runtime.precision`)."""

    model: ModelParams = ModelParams()
    """The backbone: its architecture and weights."""
    augment: AugmentParams = AugmentParams()
    """Augmentation of the training images."""
    finetune: Literal["full", "head", "block2", "block3", "block4"] = "full"
    """full: the whole network; head: a linear probe on backbone features computed once
    (backbone_features); block2/block3/block4: that stage of the backbone and after."""
    strategy: Literal[
        "auto", "default", "one_device", "mirrored", "multi_worker", "tpu"
    ] = "auto"
    """tf.distribute strategy: auto, default, one_device, mirrored, multi_worker, tpu."""
    mixed_precision: Literal["auto", "off", "bfloat16", "float16"] = "auto"
    """auto, off (float32), bfloat16 or float16; see the class docstring for auto."""
    xla: Literal["auto", "on", "off"] = "auto"
    """auto (on for GPU/TPU), on, off."""
    checkpoint_every: int = bounded(100, lo=1)
    """Steps; a rerun resumes from the latest checkpoint."""
    log_every: int = bounded(10, lo=1)
    """Steps between history rows / TensorBoard points."""
    eval_every: int | Literal["auto"] | None = bounded("auto", lo=1)
    """Steps between validation passes, and always at the last step; auto: about ten per run
    (total_steps / 10 as a multiple of log_every); null: no validation."""
    steps_per_call: int = bounded(10, lo=1)
    """Steps run in one graph call, fewer Python round trips (GPUs)."""
    micro_batch_size: int | Literal["auto"] | None = bounded("auto", lo=1)
    """Gradient accumulation: images per replica per forward/backward pass; auto: the largest that
    fits; null: the whole batch."""
    shuffle_buffer: int = bounded(1024, lo=1)
    """Examples in the training input's shuffle buffer."""
    seed: int = 0
    """Seed of the weights' initialisation, the shuffle and the augmentation."""
    deterministic: bool = False
    """true: deterministic ops, GPU runs repeat exactly (slower)."""
    resume: bool = True
    """false: train this recipe afresh (its old folder is kept aside)."""
    skip_damaged_records: bool = False
    """true: train without the records that cannot be read instead of stopping the run (a warning
    counts them)."""
    cluster_start_timeout: float = bounded(600.0, lo=1.0)
    """Seconds a cluster's workers wait for each other to start."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class EvaluationParams:
    splits: tuple[str, ...] = ("test", "validation")
    """Splits whose examples are predicted and scored."""
    batch_size: int = bounded(256, lo=1)
    """Images per call of the model."""
    worst_mistakes: int = bounded(16, lo=1)
    """Most confident wrong predictions on the test split shown in the report's figure."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class PredictionParams:
    top_k: int = bounded(5, lo=1)
    """Classes listed per image, most probable first (at most all classes)."""
    batch_size: int = bounded(64, lo=1)
    """Images per call of the serving model."""
    progress: bool = True
    """Show a progress bar."""


STAGES: dict[str, type] = {
    "ingestion": IngestionParams,
    "profiling": ProfilingParams,
    "filtering": FilteringParams,
    "hyperrule": HyperRuleParams,
    "preprocessing": PreprocessingParams,
    "training": TrainingParams,
    "evaluation": EvaluationParams,
    "prediction": PredictionParams,
}


def parse(cls: type, raw: Mapping[str, Any] | None, prefix: str) -> Any:
    """Build dataclass ``cls`` from ``raw``, validating every key under ``prefix``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix}: expected a mapping of keys, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}: unknown parameter; valid keys are {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {
        name: _value(hints[name], raw[name], f"{prefix}.{name}", fields[name].metadata)
        for name in raw
    }
    return cls(**kwargs)


def _value(hint: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = []
        for choice in [a for a in args if a is not type(None)]:
            try:
                return _value(choice, value, key, meta)
            except ConfigError as e:
                problems.append(str(e).removeprefix(f"{key}: "))
        raise ConfigError(f"{key}: {'; or '.join(problems)}")
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, key)
    if origin is Literal:
        switch = ("on" if value else "off") if isinstance(value, bool) else None
        if switch in args:  # YAML 1.1 (OmegaConf, --params) reads on and off as booleans
            return switch
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {list(args)}")
        return value
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_value(args[0], v, key, {}) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if hint is int and ok and float(value) != int(value):
            ok = False
        if not ok:
            raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
        value = hint(value)
        lo, hi = meta.get("lo"), meta.get("hi")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            raise ConfigError(f"{key}: {value} is out of range; use a value in {bounds}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"no parser for {hint!r} at {key}")


def stage_params(stage: str, raw: Mapping[str, Any] | None) -> Any:
    """Parse the parameters of one stage (``params:<stage>``)."""
    with naming_keys(stage):
        return parse(STAGES[stage], raw, stage)


def validate_all(parameters: Mapping[str, Any], in_use: Collection[str] | None = None) -> None:
    """Parse every stage's section, at the top level (absent ones with their defaults) and
    under Kedro namespaces (``upstream.training``: ``params:upstream.training`` of a
    namespaced pipeline); raise on the first problem. What the runs of a section need
    beyond its values (a weights file) is checked for the sections ``in_use`` (full keys,
    e.g. ``training``; None: all), so the data stages run without the weights."""
    sections = {stage: parameters.get(stage) for stage in STAGES}
    sections.update(_sections(parameters))
    for key, raw in sections.items():
        with naming_keys(key):  # the section's own key, namespace included
            settings = parse(STAGES[key.rsplit(".", 1)[-1]], raw, key)
            if isinstance(settings, TrainingParams) and (in_use is None or key in in_use):
                settings.model.check_weights_exist()


def _sections(parameters: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Each stage section as (full key, raw value), namespaces walked."""
    for key, raw in parameters.items():
        name = f"{prefix}{key}"
        if key in STAGES:
            yield name, raw
        elif _holds_sections(raw):
            yield from _sections(raw, f"{name}.")
        else:
            raise ConfigError(
                f"{name}: unknown parameter section; valid sections are {sorted(STAGES)}, "
                "at the top level or under a namespace (e.g. upstream.training)"
            )


def _holds_sections(raw: Any) -> bool:
    """Whether ``raw`` is a namespace: a mapping with a stage section somewhere inside."""
    return isinstance(raw, Mapping) and any(
        key in STAGES or _holds_sections(value) for key, value in raw.items()
    )
