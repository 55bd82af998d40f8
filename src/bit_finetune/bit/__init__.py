"""BiT (Big Transfer) models in Keras 3, independent of Kedro.

ResNet-v2 backbones with Group Norm and Weight Standardization in every published size
and a few small CPU variants, official ``.npz`` weight loading and export, TF Hub BiT
SavedModels loaded into the native backbone (other SavedModels wrapped as layers), and
the fine-tuning classifier with a zero-initialised head.
Importing this package registers its layers, which loading a saved ``.keras`` classifier
needs.
"""

from bit_finetune.bit.backbone import build_backbone
from bit_finetune.bit.classifier import backbone_input_range, build_classifier
from bit_finetune.bit.hub import HubBackbone, saved_model_backbone
from bit_finetune.bit.layers import InputScaling, StandardizedConv2D
from bit_finetune.bit.npz import load_npz, load_official_weights, save_npz, weight_keys
from bit_finetune.bit.specs import ARCHITECTURES, OFFICIAL, SMALL, Architecture, get_architecture

__all__ = [
    "ARCHITECTURES",
    "OFFICIAL",
    "SMALL",
    "Architecture",
    "HubBackbone",
    "InputScaling",
    "StandardizedConv2D",
    "backbone_input_range",
    "build_backbone",
    "build_classifier",
    "get_architecture",
    "load_npz",
    "load_official_weights",
    "save_npz",
    "saved_model_backbone",
    "weight_keys",
]
