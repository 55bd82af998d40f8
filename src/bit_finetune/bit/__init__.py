"""BiT (Big Transfer) models in Keras 3, independent of Kedro.

ResNet-v2 backbones with Group Norm and Weight Standardization in every published size
and a few small CPU variants, official ``.npz`` weight loading and export, TF Hub BiT
SavedModels loaded into the native backbone (other SavedModels wrapped as layers), and
the fine-tuning classifier with a zero-initialised head, which records its architecture
and initial weights (:func:`describe`); published weights by name
(``BiT-M-R50x1``), downloaded once into a verified cache.

The architecture and published-weights tables are plain Python; everything else is
imported when first used (the model code imports Keras and TensorFlow), so checking a
name stays cheap. Loading a saved
``.keras`` classifier needs the BiT layers and model class registered with Keras: call
:func:`register_layers` first (any use of the model code registers them too).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from bit_finetune.core.architectures import (
    ARCHITECTURES,
    OFFICIAL,
    SMALL,
    Architecture,
    get_architecture,
)
from bit_finetune.core.published import PUBLISHED, PublishedWeights, published_weights
from bit_finetune.errors import WeightsDownloadError

if TYPE_CHECKING:
    from keras import Model as Classifier
else:
    Classifier = Any
    """A BiT classifier (a ``keras.Model``) in annotations: ``Any`` at run time, so that a
    signature naming it imports no TensorFlow and Kedro can read its type hints."""

_WHERE = {
    "build_backbone": "backbone",
    "backbone_input_range": "classifier",
    "build_classifier": "classifier",
    "feature_extractor": "classifier",
    "DescribedModel": "description",
    "Description": "description",
    "describe": "description",
    "freeze_below": "classifier",
    "head_model": "classifier",
    "cache_folder": "download",
    "resolve_weights": "download",
    "HubBackbone": "hub",
    "saved_model_backbone": "hub",
    "InputScaling": "layers",
    "StandardizedConv2D": "layers",
    "load_npz": "npz",
    "load_official_weights": "npz",
    "save_npz": "npz",
    "weight_keys": "npz",
}


def register_layers() -> None:
    """Register with Keras every class a saved BiT classifier can name (idempotent)."""
    import_module(f"{__name__}.classifier")  # imports the layer modules, which register


__all__ = [
    "ARCHITECTURES",
    "OFFICIAL",
    "PUBLISHED",
    "SMALL",
    "Architecture",
    "Classifier",
    "DescribedModel",
    "Description",
    "HubBackbone",
    "InputScaling",
    "PublishedWeights",
    "StandardizedConv2D",
    "WeightsDownloadError",
    "backbone_input_range",
    "build_backbone",
    "build_classifier",
    "cache_folder",
    "describe",
    "feature_extractor",
    "freeze_below",
    "get_architecture",
    "head_model",
    "load_npz",
    "load_official_weights",
    "published_weights",
    "register_layers",
    "resolve_weights",
    "save_npz",
    "saved_model_backbone",
    "weight_keys",
]


def __getattr__(name: str) -> Any:
    """The model code's names, imported from their module on first use (PEP 562), so
    that importing this package imports no TensorFlow (see :mod:`bit_finetune.startup`)."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
