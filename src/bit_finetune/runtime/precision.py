"""``training.mixed_precision: auto``: which Keras dtype policy trains this model here.

- A named precision (``off``, ``bfloat16``, ``float16``) is used as it is, never timed.
- On a GPU or TPU, ``auto`` is bfloat16 mixed precision.
- On a CPU, ``auto`` is bfloat16 only where the CPU computes bfloat16 natively (the
  ``avx512_bf16`` or ``amx_bf16`` flag in ``/proc/cpuinfo``; nothing readable: float32)
  and a few train steps of this model, at this batch and resolution, run at least
  :data:`MARGIN` times as fast in bfloat16 as in float32: both are built and timed before
  training (:func:`time_candidates`), alternating, best of :data:`ROUNDS` rounds each.
  The margin keeps float32, the exact choice, when the two are close, so that timing
  noise does not flip the choice from run to run.
- On a CPU, ``auto`` is float32 without timing under ``MultiWorkerMirroredStrategy``
  (every worker must train in the same precision, and each would time its own machine),
  with ``training.deterministic`` on (a timed choice does not repeat), for head-only
  fine-tuning (the head is a single dense layer), and a resumed training keeps the
  precision recorded when its recipe was timed on the same CPU (``precision.json`` in the
  recipe's folder, :func:`add_precision`), so that resuming does not switch it.

The head and the loss stay float32 under either policy: the classifier's head is a float32
layer and the loss is computed on float32 logits.

Plain Python (TensorFlow is imported by the callers that build and time models).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bit_finetune.core.files import atomic_write_text
from bit_finetune.errors import ConfigError

if TYPE_CHECKING:
    from bit_finetune.runtime.strategy import Accelerator

logger = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
PRECISION = "precision.json"  # in a workspace: the precision of each training session
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (as ``/proc/cpuinfo`` names them) of native bfloat16 arithmetic."""
POLICIES = {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
"""``training.mixed_precision`` settings other than ``auto``, and their Keras dtype policies."""
PRECISIONS = {policy: policy.removeprefix("mixed_") for policy in POLICIES.values()}
"""Each policy's compute precision: ``float32``, ``bfloat16`` or ``float16``."""
FLOAT32, BFLOAT16 = POLICIES["off"], POLICIES["bfloat16"]
CANDIDATES = (FLOAT32, BFLOAT16)
MARGIN = 1.05
"""bfloat16 must train at least this many times as many images per second as float32."""
WARMUP_STEPS = 2  # per candidate; the first one traces the step
ROUNDS = 3  # timed rounds per candidate, alternating; the best one counts
ROUND_SECONDS = 0.3  # about this long per round and candidate, at least one step
MAX_ROUND_STEPS = 10

Measure = Callable[[], Mapping[str, float]]
"""Times the candidates: images per second by Keras policy (:data:`CANDIDATES`)."""


@dataclass(frozen=True)
class PrecisionChoice:
    """The dtype policy a training uses, why, and (when timed) what was measured."""

    setting: str
    policy: str
    reason: str
    cpu_flags: tuple[str, ...] = ()
    float32_images_per_second: float | None = None
    bfloat16_images_per_second: float | None = None

    @property
    def precision(self) -> str:
        """``float32``, ``bfloat16`` or ``float16``."""
        return PRECISIONS[self.policy]

    def record(self) -> dict[str, Any]:
        """As plain JSON-able data (``precision.json``, MLflow)."""
        return {
            "setting": self.setting,
            "chosen": self.precision,
            "policy": self.policy,
            "reason": self.reason,
            "cpu_flags": list(self.cpu_flags),
            "float32_images_per_second": self.float32_images_per_second,
            "bfloat16_images_per_second": self.bfloat16_images_per_second,
        }


def cpu_bf16_flags(cpuinfo: str | None = None) -> tuple[str, ...]:
    """The native-bfloat16 flags (:data:`BF16_FLAGS`) of this CPU, from the text of
    ``/proc/cpuinfo`` (read when ``cpuinfo`` is None); none when it cannot be read."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            return ()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return tuple(flag for flag in BF16_FLAGS if flag in flags)


def choose_precision(
    setting: str,
    device: Accelerator,
    measure: Measure | None,
    *,
    multi_worker: bool = False,
    deterministic: bool = False,
    earlier: Mapping[str, Any] | None = None,
    cpu_flags: Sequence[str] | None = None,
) -> PrecisionChoice:
    """The ``training.mixed_precision`` ``setting`` on ``device``, as the module says.

    ``measure`` times the candidates (None: no timing, float32); ``earlier`` is the
    choice recorded when this recipe's training started (only given when resuming it);
    ``cpu_flags`` defaults to :func:`cpu_bf16_flags`.
    """

    if setting != "auto" or device != "cpu":
        return PrecisionChoice(
            setting,
            precision_policy(setting, device),
            "set" if setting != "auto" else f"auto on {device}",
        )
    flags = tuple(cpu_bf16_flags() if cpu_flags is None else cpu_flags)
    named = f"CPU ({', '.join(flags)})" if flags else "CPU"

    def untimed(reason: str, why: str) -> PrecisionChoice:
        logger.info("Precision auto on %s: float32, %s", named, why)
        return PrecisionChoice(setting, FLOAT32, reason, flags)

    if not flags:
        return untimed(
            "no native bfloat16", f"no native bfloat16 (no {' or '.join(BF16_FLAGS)} flag)"
        )
    if multi_worker:
        return untimed(
            "multi-worker",
            "not timed on a multi-worker cluster (every worker must train in the same precision)",
        )
    if deterministic:
        return untimed(
            "deterministic",
            "not timed with training.deterministic on (a timed choice does not repeat)",
        )
    resumed = _resumed(earlier, flags)
    if resumed is not None:
        logger.info(
            "Precision auto on %s: %s -> %s, as timed when this recipe started "
            "training; kept on resume",
            named,
            _figures(resumed),
            resumed.precision,
        )
        return resumed
    if measure is None:
        return untimed("not timed", "not timed for head-only fine-tuning")
    speeds = measure()
    float32, bfloat16 = float(speeds[FLOAT32]), float(speeds[BFLOAT16])
    policy = BFLOAT16 if bfloat16 >= float32 * MARGIN else FLOAT32
    choice = PrecisionChoice(setting, policy, "timed", flags, float32, bfloat16)
    logger.info("Precision auto on %s: %s -> %s", named, _figures(choice), choice.precision)
    return choice


def _resumed(earlier: Mapping[str, Any] | None, flags: tuple[str, ...]) -> PrecisionChoice | None:
    """The recorded timed choice, when it was made on a CPU with the same flags."""
    if (
        not earlier
        or earlier.get("setting") != "auto"
        or earlier.get("reason") not in ("timed", "resumed")
    ):
        return None
    if tuple(earlier.get("cpu_flags") or ()) != flags or earlier.get("policy") not in CANDIDATES:
        return None
    figures = [earlier.get(f"{name}_images_per_second") for name in ("float32", "bfloat16")]
    if not all(isinstance(value, (int, float)) for value in figures):
        return None
    return PrecisionChoice("auto", earlier["policy"], "resumed", flags, *map(float, figures))


def _figures(choice: PrecisionChoice) -> str:
    return (
        f"float32 {choice.float32_images_per_second:,.0f} img/s, "
        f"bfloat16 {choice.bfloat16_images_per_second:,.0f} img/s"
    )


def time_candidates(
    steps: Mapping[str, Callable[[], Any]],
    images_per_step: Mapping[str, int],
    *,
    warmup: int = WARMUP_STEPS,
    rounds: int = ROUNDS,
    round_seconds: float = ROUND_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Images per second of each candidate's train ``steps[name]()`` (which returns when
    its step is done): ``warmup`` untimed steps each, then ``rounds`` rounds, the
    candidates in turn, of about ``round_seconds`` each (at least one step, the number
    from the last warm-up step); the best round of each counts."""
    per_round: dict[str, int] = {}
    for name, step in steps.items():
        last = 0.0
        for _ in range(max(warmup, 1)):
            start = clock()
            step()
            last = clock() - start
        per_round[name] = min(MAX_ROUND_STEPS, max(1, round(round_seconds / max(last, 1e-9))))
    best = dict.fromkeys(steps, math.inf)
    for _ in range(rounds):
        for name, step in steps.items():
            start = clock()
            for _ in range(per_round[name]):
                step()
            best[name] = min(best[name], (clock() - start) / per_round[name])
    return {name: images_per_step[name] / max(seconds, 1e-9) for name, seconds in best.items()}


def read_precision(workspace: Path) -> list[dict[str, Any]]:
    """The precision records of the recipe's training sessions, oldest first (none when
    the file is missing or unreadable)."""
    try:
        records = json.loads((workspace / PRECISION).read_text())
    except (OSError, ValueError):
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def add_precision(workspace: Path, record: Mapping[str, Any]) -> None:
    """Append a training session's precision ``record`` to ``precision.json``."""
    records = [*read_precision(workspace), dict(record)]
    atomic_write_text(workspace / PRECISION, json.dumps(records, indent=2))


def precision_policy(setting: str, device: Accelerator) -> str:
    """Keras dtype policy for ``training.mixed_precision`` (``auto``: bfloat16 on GPU/TPU)."""
    if setting == "auto":
        return "float32" if device == "cpu" else "mixed_bfloat16"
    if setting not in POLICIES:
        raise ConfigError(
            f"training.mixed_precision: {setting!r} is not allowed; choose one of "
            f"{['auto', *POLICIES]}"
        )
    return POLICIES[setting]


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Set Keras' global dtype policy while models are built, then restore the old one."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
