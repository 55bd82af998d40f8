"""The fine-tuning classifier: [0, 1] images -> input scaling -> backbone -> zero head."""

from __future__ import annotations

import os

import keras

from bit_finetune.bit.backbone import build_backbone
from bit_finetune.bit.description import DescribedModel, classifier_name
from bit_finetune.bit.hub import HubBackbone, saved_model_backbone
from bit_finetune.bit.layers import InputScaling
from bit_finetune.bit.npz import load_npz
from bit_finetune.core.architectures import ARCHITECTURES, Architecture, get_architecture
from bit_finetune.errors import ArchitectureError, FinetuneError

NATIVE_RANGE = (-1.0, 1.0)
HUB_RANGE = (0.0, 1.0)


def build_classifier(
    architecture: str | Architecture,
    num_classes: int,
    weights: str | os.PathLike = "random",
    *,
    weights_name: str | None = None,
) -> DescribedModel:
    """A BiT classifier for float32 images in [0, 1] of any size, giving float32 logits.

    ``weights`` (the ``training.model.weights`` parameter):

    - ``"random"``: a native backbone, freshly initialised;
    - a path or fsspec URL ending in ``.npz``: a native backbone with official BiT weights
      (the file's 21843-way head is ignored);
    - an ``http(s)`` TF Hub handle or a local SavedModel directory: a native backbone
      holding its weights when its variables carry the official BiT names (as the TF Hub
      BiT modules' do), else a :class:`HubBackbone` whose feature width must equal that
      of ``architecture`` (see :func:`bit_finetune.bit.hub.saved_model_backbone`).

    Native backbones see images scaled to [-1, 1]; a :class:`HubBackbone` sees [0, 1], as
    Hub models take them. The ``input_scaling`` layer records the range. The head is a
    zero-initialised float32 Dense layer named ``head``, so logits stay float32 under a
    mixed-precision policy.

    The classifier describes itself (:func:`~bit_finetune.bit.description.describe`): its
    architecture and its initial weights, recorded as ``weights_name`` when given (the
    published name of a cached file), else as ``weights``.
    """
    arch = get_architecture(architecture)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"build_classifier: num_classes must be an int >= 1, got {num_classes!r}")
    source = os.fspath(weights).strip()
    if source == "random" or source.lower().endswith(".npz"):
        backbone = build_backbone(arch)
        if source != "random":
            load_npz(backbone, source)
    else:
        backbone = saved_model_backbone(source, arch)
    value_range = HUB_RANGE if isinstance(backbone, HubBackbone) else NATIVE_RANGE

    images = keras.Input(shape=(None, None, 3), name="images")
    scaled = InputScaling(*value_range, dtype="float32", name="input_scaling")(images)
    features = backbone(scaled)
    if features.shape[-1] != arch.features:
        fits = [name for name, a in ARCHITECTURES.items() if a.features == features.shape[-1]]
        raise ArchitectureError(
            f"{arch.name} has {arch.features} features but "
            f"the SavedModel '{source}' gives {features.shape[-1]}; use one of {fits} or "
            "the SavedModel matching the architecture"
        )
    logits = keras.layers.Dense(
        num_classes, kernel_initializer="zeros", dtype="float32", name="head"
    )(features)
    return DescribedModel(
        images,
        logits,
        architecture=arch.name,
        initial_weights=weights_name or source,
        name=classifier_name(arch),
    )


def backbone_input_range(model: keras.Model) -> tuple[float, float]:
    """The value range a classifier's backbone sees (its inputs are always [0, 1])."""
    return model.get_layer("input_scaling").value_range


def freeze_below(model: keras.Model, stage: str) -> None:
    """Fine-tune only from ``stage`` (``"block2"`` ... ``"block4"``) on: the root and the
    earlier blocks of a native backbone stop training (``training.finetune``)."""
    backbone = model.get_layer("backbone")
    if isinstance(backbone, HubBackbone):
        raise FinetuneError(
            f"'{stage}' needs a native BiT backbone (random init, an "
            ".npz file or a BiT TF Hub module), not a wrapped SavedModel; use 'full' or "
            "'head'"
        )
    first = int(stage.removeprefix("block"))
    for layer in backbone.layers:
        block = layer.name.split("_", 1)[0]
        if block == "root" or (block.startswith("block") and int(block[5:]) < first):
            layer.trainable = False


def feature_extractor(model: keras.Model) -> keras.Model:
    """The classifier up to its head: images in [0, 1] -> the backbone's features."""
    return keras.Model(model.input, model.get_layer("head").input, name="features")


def head_model(model: keras.Model) -> keras.Model:
    """The classifier's head alone, on feature vectors; it shares the classifier's head
    weights, so training it trains the classifier's head."""
    head = model.get_layer("head")
    features = keras.Input(shape=(head.input.shape[-1],), name="features")
    return keras.Model(features, head(features), name="head_only")
