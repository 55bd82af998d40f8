"""Architecture table and backbone structure (built symbolically, never run)."""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np
import pytest

from bit_finetune.bit.backbone import build_backbone
from bit_finetune.core.architectures import (
    ARCHITECTURES,
    OFFICIAL,
    SMALL,
    architecture_of_weights,
    get_architecture,
)
from bit_finetune.errors import ModelError

# Published backbone parameter counts (no head) and feature widths.
OFFICIAL_COUNTS = {
    "R50x1": (23_500_352, 2048),
    "R101x1": (42_492_480, 2048),
    "R50x3": (211_174_080, 6144),
    "R152x2": (232_238_208, 4096),
    "R101x3": (381_789_888, 6144),
    "R152x4": (928_340_224, 8192),
}
SMALL_COUNTS = {
    "R14x0.25": (504_464, 512),
    "R14x0.5": (2_007_328, 1024),
    "R26x0.5": (3_492_768, 1024),
    "R26x1": (13_938_496, 2048),
}


@pytest.fixture(autouse=True)
def _no_deferred_variables_left() -> Iterator[None]:
    """A shapes-only build leaves its variables registered with Keras, uninitialized;
    Keras would initialize them all (R152x4: 936M weights, tens of seconds) when this
    process next leaves a stateless scope, in some later test. Dropped here."""
    yield
    keras.backend.clear_session(free_memory=False)


def symbolic_backbone(name: str) -> keras.Model:
    """Build the real model without allocating its weights (shapes only)."""
    with keras.StatelessScope(initialize_variables=False):
        return build_backbone(name)


@pytest.mark.parametrize("name", sorted({**OFFICIAL_COUNTS, **SMALL_COUNTS}))
def test_backbone_parameter_count(name: str) -> None:
    params, features = {**OFFICIAL_COUNTS, **SMALL_COUNTS}[name]
    backbone = symbolic_backbone(name)
    assert backbone.count_params() == params
    assert tuple(backbone.output.shape) == (None, features)
    assert get_architecture(name).features == features


def test_table_holds_exactly_the_published_and_small_sizes() -> None:
    assert set(OFFICIAL) == set(OFFICIAL_COUNTS)
    assert set(SMALL) == set(SMALL_COUNTS)
    for name, arch in ARCHITECTURES.items():
        assert arch.name == name
        assert arch.depth == 3 * sum(arch.units) + 2


@pytest.mark.parametrize(
    ("name", "units", "width"),
    [
        ("R50x1", (3, 4, 6, 3), 1),
        ("r101x3", (3, 4, 23, 3), 3),
        (" R152x4 ", (3, 8, 36, 3), 4),
        ("R14x0.25", (1, 1, 1, 1), 0.25),
        ("R26x0.5", (2, 2, 2, 2), 0.5),
    ],
)
def test_names_parse(name: str, units: tuple, width: float) -> None:
    arch = get_architecture(name)
    assert (arch.units, arch.width) == (units, width)


@pytest.mark.parametrize("name", ["R50x2", "R18x1", "resnet50", ""])
def test_unknown_name_lists_valid_names(name: str) -> None:
    with pytest.raises(ValueError, match="R50x1.*R14x0.25") as info:
        get_architecture(name)
    assert isinstance(info.value, ModelError) and info.value.subject == "architecture"


def test_group_norm_groups_divide_every_width() -> None:
    assert get_architecture("R50x1").groups == 32
    assert get_architecture("R152x4").groups == 32
    assert get_architecture("R14x0.25").groups == 8
    backbone = symbolic_backbone("R14x0.25")
    norms = [la for la in backbone.layers if isinstance(la, keras.layers.GroupNormalization)]
    assert len(norms) == 4 * 3 + 1
    for layer in norms:
        assert layer.groups == 8 and layer.epsilon == 1e-5


def test_unit_wiring_follows_pre_activation_design() -> None:
    backbone = symbolic_backbone("R26x0.5")
    layer = backbone.get_layer
    # The projection shortcut and the first conv share the unit's GN + ReLU.
    preact = layer("block2_unit01_a_relu").output
    assert layer("block2_unit01_a_proj").input is preact
    assert layer("block2_unit01_a_conv").input is preact
    assert layer("block2_unit01_a_gn").input is layer("block1_unit02_add").output
    # The stride sits on the 3x3 conv and the projection; identity shortcut otherwise.
    assert layer("block2_unit01_b_conv").strides == 2
    assert layer("block2_unit01_a_proj").strides == 2
    assert layer("block2_unit01_a_conv").strides == 1
    assert layer("block1_unit01_b_conv").strides == 1
    assert layer("block2_unit02_add").input[0] is layer("block2_unit01_add").output
    names = {la.name for la in backbone.layers}
    assert "block1_unit01_a_proj" in names  # channels change 32 -> 128
    assert "block1_unit02_a_proj" not in names


@pytest.mark.parametrize(("size", "final"), [(224, 7), (128, 4), (97, 4)])
def test_spatial_sizes_follow_the_official_padding(size: int, final: int) -> None:
    backbone = build_backbone("R14x0.25")
    stem = keras.Model(backbone.input, backbone.get_layer("root_pool").output)
    body = keras.Model(backbone.input, backbone.get_layer("block4_unit01_add").output)
    images = np.zeros((1, size, size, 3), "float32")
    after_conv = (size + 6 - 7) // 2 + 1
    assert stem(images).shape[1] == (after_conv + 2 - 3) // 2 + 1
    assert tuple(body(images).shape) == (1, final, final, 512)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_the_architecture_is_read_from_official_weight_names(name: str) -> None:
    arch = get_architecture(name)
    names = ["resnet/root_block/standardized_conv2d/kernel", "resnet/group_norm/gamma"] + [
        f"resnet/block{block}/unit{unit:02d}/{part}/standardized_conv2d/kernel"
        for block, count in enumerate(arch.units, 1)
        for unit in range(1, count + 1)
        for part in "abc"
    ]
    assert architecture_of_weights(names, arch.root_filters) == arch
    assert architecture_of_weights(names, arch.root_filters + 1) is None  # no such width
    assert architecture_of_weights(names[:-3], arch.root_filters) is None  # a unit short
