"""BiT (Big Transfer) models in Keras 3, independent of Kedro.

ResNet-v2 backbones with Group Norm and Weight Standardization in every published size
and a few small CPU variants (:mod:`.backbone`, :mod:`.layers`), official ``.npz`` weight
loading and export (:mod:`.npz`), TF Hub BiT SavedModels loaded into the native backbone,
other SavedModels wrapped as layers (:mod:`.hub`), the fine-tuning classifier with a
zero-initialised head (:mod:`.classifier`), which records its architecture and initial
weights (:mod:`.description`), and published weights by name (``BiT-M-R50x1``),
downloaded once into a verified cache (:mod:`.download`). The architecture and
published-weights tables live in :mod:`bit_finetune.core`.

The modules import Keras and TensorFlow; this package itself does not, so a pipeline
may name :data:`Classifier` in its hints and import the model code in its nodes. Loading
a saved ``.keras`` classifier needs the BiT classes registered with Keras: call
:func:`register_layers` first (any use of the model code registers them too).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keras import Model as Classifier
else:
    Classifier = Any
    """A BiT classifier (a ``keras.Model``) in annotations: ``Any`` at run time, so that a
    signature naming it imports no TensorFlow and Kedro can read its type hints."""


def register_layers() -> None:
    """Register with Keras every class a saved BiT classifier can name (idempotent)."""
    import_module(f"{__name__}.classifier")  # imports the layer modules, which register
