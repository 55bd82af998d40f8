"""The BiT architecture table: ResNet-v2 depth (units per stage) and width multiplier.

Names follow the official ``R{depth}x{width}`` scheme, where depth = 3 * sum(units) + 2
(three convolutions per bottleneck unit, plus the root convolution and the head). Besides
the six published sizes, a few narrow, shallow variants in the same style make CPU runs
and tests practical; no published weights exist for them.

Group Norm uses 32 groups at width >= 1, as published. Narrower variants would have layers
with fewer than 32 channels (R14x0.25 has 16 in the root), so they use ``32 * width``
groups: every channel count is then divisible by the group count, with at least 2
channels per group. The group count does not change the parameter count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bit_finetune.errors import ArchitectureError

STAGE_STRIDES = (1, 2, 2, 2)


@dataclass(frozen=True)
class Architecture:
    """One ResNet-v2 size: bottleneck units per stage and width multiplier."""

    units: tuple[int, int, int, int]
    width: float

    @property
    def depth(self) -> int:
        return 3 * sum(self.units) + 2

    @property
    def name(self) -> str:
        return f"R{self.depth}x{self.width:g}"

    @property
    def root_filters(self) -> int:
        return int(64 * self.width)

    def bottleneck_filters(self, stage: int) -> int:
        """Width of the 1x1/3x3 convolutions of ``stage`` (0-based); unit output is 4x."""
        return int(64 * self.width) * 2**stage

    @property
    def features(self) -> int:
        """Length of the pooled feature vector the backbone returns."""
        return 4 * self.bottleneck_filters(len(self.units) - 1)

    @property
    def groups(self) -> int:
        """Group Norm groups (32 as published; ``32 * width`` for narrow variants)."""
        return 32 if self.width >= 1 else int(32 * self.width)


_R50, _R101, _R152 = (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)

OFFICIAL: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(_R50, 1),
        Architecture(_R50, 3),
        Architecture(_R101, 1),
        Architecture(_R101, 3),
        Architecture(_R152, 2),
        Architecture(_R152, 4),
    )
}

SMALL: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture((1, 1, 1, 1), 0.25),
        Architecture((1, 1, 1, 1), 0.5),
        Architecture((2, 2, 2, 2), 0.5),
        Architecture((2, 2, 2, 2), 1),
    )
}

ARCHITECTURES: dict[str, Architecture] = {**OFFICIAL, **SMALL}


def get_architecture(name: str | Architecture) -> Architecture:
    """Look up an architecture by name (``"R50x1"``, ``"r14x0.25"``); pass instances through."""
    if isinstance(name, Architecture):
        return name
    by_lower = {key.lower(): arch for key, arch in ARCHITECTURES.items()}
    found = by_lower.get(str(name).strip().lower())
    if found is None:
        raise ArchitectureError(
            f"unknown BiT architecture {name!r}; "
            f"choose one of {list(ARCHITECTURES)}"
        )
    return found


ROOT_KERNEL = re.compile(r"resnet/root_block/standardized_conv2d(_\d+)?/kernel(:0)?")
"""The official weight name of the root convolution (HWIO, ``64 * width`` filters)."""
_UNIT = re.compile(r"resnet/block([1-4])/unit(\d+)/")


def architecture_of_weights(names: Iterable[str], root_filters: int) -> Architecture | None:
    """The table's architecture whose backbone has these official weight names (units per
    stage, counted from the names) and root convolution filters (its width), or None."""
    units: list[set[str]] = [set(), set(), set(), set()]
    for name in names:
        match = _UNIT.match(name)
        if match:
            units[int(match[1]) - 1].add(match[2])
    counts = tuple(len(stage) for stage in units)
    return next((a for a in ARCHITECTURES.values()
                 if a.units == counts and a.root_filters == root_filters), None)


def npz_architecture(path: str) -> Architecture | None:
    """The architecture of the official BiT weights in the local ``.npz`` file at
    ``path``, read from its names and root convolution alone; None for another file."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            root = next((name for name in archive.files if ROOT_KERNEL.fullmatch(name)), None)
            return None if root is None else architecture_of_weights(
                archive.files, archive[root].shape[-1])
    except (ValueError, OSError, EOFError, AttributeError):  # not an npz archive
        return None
