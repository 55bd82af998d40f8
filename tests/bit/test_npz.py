"""Official .npz layout: export, loading, and errors about the weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bit_finetune.bit.backbone import build_backbone
from bit_finetune.bit.classifier import build_classifier
from bit_finetune.bit.npz import load_npz, save_npz
from bit_finetune.errors import ModelError

IMAGES = np.random.default_rng(0).random((2, 48, 48, 3), dtype="float32")


def official_keys(units: tuple[int, ...]) -> set[str]:
    """Every backbone key of the official layout, written out from its documented pattern."""
    keys = {
        "resnet/root_block/standardized_conv2d/kernel",
        "resnet/group_norm/gamma",
        "resnet/group_norm/beta",
    }
    for block, count in enumerate(units, 1):
        for unit in range(1, count + 1):
            prefix = f"resnet/block{block}/unit{unit:02d}"
            for part in "abc":
                keys.add(f"{prefix}/{part}/standardized_conv2d/kernel")
                keys.add(f"{prefix}/{part}/group_norm/gamma")
                keys.add(f"{prefix}/{part}/group_norm/beta")
            if unit == 1:
                keys.add(f"{prefix}/a/proj/standardized_conv2d/kernel")
    return keys


def randomise(model) -> None:
    rng = np.random.default_rng(42)
    for variable in model.weights:
        variable.assign(rng.normal(0.1, 0.5, size=variable.shape).astype("float32"))


@pytest.fixture()
def trained_file(tmp_path: Path):
    """A R14x0.25 classifier with random non-trivial weights, exported to .npz."""
    model = build_classifier("R14x0.25", 3)
    randomise(model)
    path = tmp_path / "BiT-test-R14x0.25.npz"
    save_npz(model, str(path))
    return model, path


def test_export_uses_the_official_key_layout(trained_file) -> None:
    _, path = trained_file
    with np.load(path) as npz:
        shapes = {key: npz[key].shape for key in npz.files}
    head = {"resnet/head/conv2d/kernel", "resnet/head/conv2d/bias"}
    assert set(shapes) == official_keys((1, 1, 1, 1)) | head
    assert shapes["resnet/root_block/standardized_conv2d/kernel"] == (7, 7, 3, 16)
    assert shapes["resnet/block1/unit01/a/standardized_conv2d/kernel"] == (1, 1, 16, 16)
    assert shapes["resnet/block1/unit01/a/proj/standardized_conv2d/kernel"] == (1, 1, 16, 64)
    assert shapes["resnet/block4/unit01/b/standardized_conv2d/kernel"] == (3, 3, 128, 128)
    assert shapes["resnet/block2/unit01/a/group_norm/gamma"] == (64,)  # the unit's input
    assert shapes["resnet/block2/unit01/c/group_norm/gamma"] == (32,)  # the 3x3 output
    assert shapes["resnet/group_norm/beta"] == (512,)
    assert shapes["resnet/head/conv2d/kernel"] == (1, 1, 512, 3)


def test_deeper_variant_has_projections_only_in_first_units(tmp_path: Path) -> None:
    path = tmp_path / "r26.npz"
    save_npz(build_backbone("R26x0.5"), str(path))
    with np.load(path) as npz:
        assert set(npz.files) == official_keys((2, 2, 2, 2))


def test_round_trip_gives_identical_features_and_a_fresh_head(trained_file) -> None:
    model, path = trained_file
    loaded = build_classifier("R14x0.25", 5, weights=str(path))
    expected = model.get_layer("backbone")(IMAGES * 2 - 1).numpy()
    np.testing.assert_array_equal(loaded.get_layer("backbone")(IMAGES * 2 - 1), expected)
    assert not np.allclose(expected, build_backbone("R14x0.25")(IMAGES * 2 - 1))
    np.testing.assert_array_equal(loaded(IMAGES), np.zeros((2, 5)))  # file head ignored


def test_squeezable_shapes_and_numbered_conv_names_are_accepted(trained_file, tmp_path) -> None:
    model, path = trained_file
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["resnet/group_norm/gamma"] = arrays["resnet/group_norm/gamma"][None, None, None]
    key = "resnet/block3/unit01/b/standardized_conv2d/kernel"
    arrays[key.replace("conv2d/", "conv2d_7/")] = arrays.pop(key)
    variant = tmp_path / "variant.npz"
    np.savez(variant, **arrays)
    backbone = build_backbone("R14x0.25")
    load_npz(backbone, str(variant))
    np.testing.assert_array_equal(backbone(IMAGES), model.get_layer("backbone")(IMAGES))


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "BiT-M-R50x1.npz"
    with pytest.raises(ModelError, match=r"^file .*not found"):
        build_classifier("R14x0.25", 2, weights=str(missing))


def test_not_an_npz(tmp_path: Path) -> None:
    fake = tmp_path / "weights.npz"
    fake.write_text("this is not a zip archive\n")
    with pytest.raises(ModelError, match=r"not a readable \.npz"):
        build_classifier("R14x0.25", 2, weights=str(fake))


def test_weights_of_another_architecture_name_both(trained_file) -> None:
    _, path = trained_file
    with pytest.raises(ModelError) as info:
        build_classifier("R14x0.5", 2, weights=str(path))
    assert info.value.subject == "architecture"
    assert str(info.value) == (
        f"'{path}' holds R14x0.25 weights, but the model is R14x0.5; set R14x0.25 (or, for "
        "a local .npz file, leave it unset: the file sets it)")


def test_a_weight_of_the_wrong_shape_names_its_key_and_both_shapes(trained_file, tmp_path):
    _, path = trained_file
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    key = "resnet/block2/unit01/b/standardized_conv2d/kernel"
    arrays[key] = arrays[key][:, :, :, :-1]
    odd = tmp_path / "odd.npz"
    np.savez(odd, **arrays)
    with pytest.raises(ModelError) as info:
        build_classifier("R14x0.25", 2, weights=str(odd))
    message = str(info.value)
    assert info.value.subject == "weights"
    assert f"'{key}'" in message and "(3, 3, 32, 31)" in message and "(3, 3, 32, 32)" in message
    assert "\n" not in message


def test_missing_key_is_named(trained_file, tmp_path: Path) -> None:
    _, path = trained_file
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    del arrays["resnet/block2/unit01/c/group_norm/beta"]
    partial = tmp_path / "partial.npz"
    np.savez(partial, **arrays)
    expected = "lacks 1 of the 43 weights.*'resnet/block2/unit01/c/group_norm/beta'"
    with pytest.raises(ModelError, match=expected):
        build_classifier("R14x0.25", 2, weights=str(partial))


def test_deeper_file_into_shallower_model_is_refused(tmp_path: Path) -> None:
    """A file of no architecture of the table (R26x0.5 less its last unit) that holds
    more units than the model: the first weight too many is named."""
    path = tmp_path / "r26.npz"
    save_npz(build_backbone("R26x0.5"), str(path))
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files if "block4/unit02" not in key}
    np.savez(path, **arrays)
    expected = "weights the architecture lacks, first 'resnet/block1/unit02"
    with pytest.raises(ModelError, match=expected):
        build_classifier("R14x0.5", 2, weights=str(path))


def test_failed_load_assigns_nothing(trained_file, tmp_path: Path) -> None:
    _, path = trained_file
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["resnet/group_norm/gamma"] = np.ones(256, "float32")  # the last key read
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    backbone = build_backbone("R14x0.25")
    before = [v.numpy().copy() for v in backbone.weights]
    with pytest.raises(ModelError, match=r"'resnet/group_norm/gamma' has shape \(256,\)"):
        load_npz(backbone, str(bad))
    for variable, value in zip(backbone.weights, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_fsspec_urls_are_read_and_written(trained_file) -> None:
    model, _ = trained_file
    url = "memory://bit-weights/R14x0.25.npz"
    save_npz(model, url)
    loaded = build_classifier("R14x0.25", 2, weights=url)
    np.testing.assert_array_equal(
        loaded.get_layer("backbone")(IMAGES), model.get_layer("backbone")(IMAGES)
    )
