"""Weights in the official BiT ``.npz`` layout: key mapping, loading and export.

Keys (kernels HWIO, Group Norm parameters 1-D)::

    resnet/root_block/standardized_conv2d/kernel
    resnet/block{1..4}/unit{01..}/{a,b,c}/standardized_conv2d/kernel
    resnet/block{1..4}/unit{01..}/{a,b,c}/group_norm/{gamma,beta}
    resnet/block{1..4}/unit{01..}/a/proj/standardized_conv2d/kernel
    resnet/group_norm/{gamma,beta}
    resnet/head/conv2d/{kernel,bias}        (1x1 conv head; never loaded)

Each key is derived from a backbone layer name (``block1_unit01_a_proj`` ->
``resnet/block1/unit01/a/proj/standardized_conv2d``) plus the variable name. The TF Hub
BiT SavedModels name their variables the same way (plus TensorFlow's ``:0``), so
:func:`load_official_weights` serves both sources (see :mod:`bit_finetune.bit.hub`).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

import fsspec
import keras
import numpy as np
from numpy.typing import ArrayLike

from bit_finetune.core.architectures import architecture_of_weights
from bit_finetune.errors import ArchitectureError, ModelError, WeightsError

HEAD_PREFIX = "resnet/head/"
_FIXED = {
    "root_conv": "resnet/root_block/standardized_conv2d",
    "pre_head_gn": "resnet/group_norm",
}
_UNIT_LAYER = re.compile(r"block(\d+)_unit(\d{2})_([abc])_(conv|gn|proj)")
_PARTS = {"conv": "standardized_conv2d", "gn": "group_norm", "proj": "proj/standardized_conv2d"}
_ROOT_KERNEL = f"{_FIXED['root_conv']}/kernel"
# Some published files number their convolutions (".../standardized_conv2d_3/kernel").
_NUMBERED_CONV = re.compile(r"/standardized_conv2d_\d+/")


def official_prefix(layer_name: str) -> str:
    """The npz key prefix of a backbone layer, e.g. ``block2_unit03_b_gn`` ->
    ``resnet/block2/unit03/b/group_norm``."""
    if layer_name in _FIXED:
        return _FIXED[layer_name]
    match = _UNIT_LAYER.fullmatch(layer_name)
    if match is None:
        raise ValueError(f"layer {layer_name!r} has no place in the official BiT weight layout")
    block, unit, part, kind = match.groups()
    return f"resnet/block{block}/unit{unit}/{part}/{_PARTS[kind]}"


def weight_keys(backbone: keras.Model) -> dict[str, keras.Variable]:
    """Every backbone variable by its official npz key, in layer order (root first)."""
    return {
        f"{official_prefix(layer.name)}/{variable.name}": variable
        for layer in backbone.layers
        for variable in layer.weights
    }


def save_npz(model: keras.Model, path: str) -> None:
    """Write a native backbone, or a classifier built on one, in the official layout.

    A classifier's Dense ``head`` is written as the official 1x1 conv head
    (``resnet/head/conv2d/kernel`` [1, 1, F, N] and ``bias``). ``path`` may be any
    fsspec URL.
    """
    backbone = model if _is_backbone(model) else model.get_layer("backbone")
    if not _is_backbone(backbone):
        raise ValueError("save_npz: the model's backbone is not a native BiT backbone")
    arrays = {key: keras.ops.convert_to_numpy(v) for key, v in weight_keys(backbone).items()}
    if backbone is not model:
        kernel, bias = (keras.ops.convert_to_numpy(v) for v in model.get_layer("head").weights)
        arrays[f"{HEAD_PREFIX}conv2d/kernel"] = kernel[None, None]
        arrays[f"{HEAD_PREFIX}conv2d/bias"] = bias
    with fsspec.open(path, "wb") as f:
        np.savez(f, **arrays)


def official_key(name: str) -> str:
    """A weight name in the official layout: numbered convolutions lose their number."""
    return _NUMBERED_CONV.sub("/standardized_conv2d/", name)


def has_official_names(names: Iterable[str]) -> bool:
    """Whether ``names`` hold the root convolution of an official BiT backbone, which
    every architecture has (the rest is checked when the weights are loaded)."""
    return any(official_key(name) == _ROOT_KERNEL for name in names)


def load_official_weights(
    backbone: keras.Model, weights: Mapping[str, ArrayLike], source: str
) -> None:
    """Assign ``weights``, arrays by official name, to ``backbone`` (head entries ignored).

    ``source`` names where the weights come from in errors. Raises
    :class:`~bit_finetune.errors.WeightsError` when names or shapes do not
    fit the backbone; nothing is assigned unless every weight fits.
    """
    targets = weight_keys(backbone)
    names = {official_key(n): n for n in weights}
    names = {k: n for k, n in names.items() if not k.startswith(HEAD_PREFIX)}
    if _ROOT_KERNEL in names:
        theirs = architecture_of_weights(names, weights[names[_ROOT_KERNEL]].shape[-1])
        ours = architecture_of_weights(targets, targets[_ROOT_KERNEL].shape[-1])
        if theirs is not None and ours is not None and theirs != ours:
            raise ArchitectureError(
                f"'{source}' holds {theirs.name} weights, but the model is {ours.name}; set "
                f"{theirs.name} (or, for a local .npz file, leave it unset: the file sets it)"
            )
    _check_keys(source, list(targets), list(names))
    arrays = {key: _fit(source, key, weights[names[key]], v) for key, v in targets.items()}
    for key, variable in targets.items():
        variable.assign(arrays[key])


def load_npz(backbone: keras.Model, path: str) -> None:
    """Assign the weights of an official BiT ``.npz`` file (head ignored) to ``backbone``.

    Raises :class:`~bit_finetune.errors.WeightsError` when the file is
    missing or not an npz archive, or as :func:`load_official_weights` does.
    """
    try:
        with fsspec.open(path, "rb") as f:
            archive = np.load(f, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise WeightsError(f"'{path}' is not a readable .npz archive (a single .npy array)")
            load_official_weights(backbone, archive, path)
    except ModelError:
        raise
    except FileNotFoundError as e:
        raise WeightsError(
            f"file '{path}' not found; point it at an official BiT .npz file, "
            "a TF Hub handle or a SavedModel directory, or use 'random'"
        ) from e
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise WeightsError(f"'{path}' is not a readable .npz archive ({e})") from e


def _is_backbone(model: Any) -> bool:
    return isinstance(model, keras.Model) and any(
        layer.name == "root_conv" for layer in model.layers
    )


def _check_keys(source: str, needed: list[str], present: list[str]) -> None:
    missing = [k for k in needed if k not in set(present)]
    if missing:
        raise WeightsError(
            f"'{source}' lacks {len(missing)} of the {len(needed)} weights the "
            f"architecture needs, first '{missing[0]}'; are these official BiT weights of "
            "the architecture's size?"
        )
    extra = sorted(set(present) - set(needed))
    if extra:
        raise WeightsError(
            f"'{source}' has {len(extra)} weights the architecture lacks, first "
            f"'{extra[0]}'; choose the architecture of the weights' size"
        )


def _fit(source: str, key: str, value: ArrayLike, variable: keras.Variable) -> np.ndarray:
    """The value in the variable's shape and dtype (size-1 axes may differ), or raise."""
    array = np.asarray(value)
    shape = tuple(variable.shape)
    squeezed = tuple(d for d in shape if d != 1)
    if array.shape != shape and np.squeeze(array).shape == squeezed:
        array = array.reshape(shape)
    if array.shape != shape:
        raise WeightsError(
            f"'{source}' does not fit the architecture: '{key}' has shape "
            f"{array.shape} there but {shape} in the model; choose the architecture of "
            "the weights' size"
        )
    return array.astype(variable.dtype)
