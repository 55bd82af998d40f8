"""BiT backbones from TF Hub handles or local TF2 SavedModel directories.

A SavedModel whose variables (its Reusable SavedModel ``variables`` list) carry the
official BiT names, as the TF Hub BiT modules' do
(``resnet/block1/unit01/a/standardized_conv2d/kernel:0``), is not kept: its variables are
read once and loaded into the native backbone through the same name and shape checks as
an ``.npz`` file (:func:`bit_finetune.bit.npz.load_official_weights`). The classifier is
then fully native: it sees [-1, 1] and saves and loads in Keras safe mode.

Any other SavedModel is wrapped in a :class:`HubBackbone`, a ``keras.layers.TFSMLayer``
(``tensorflow_hub.KerasLayer`` cannot live in a Keras 3 model) with ``trainable=True``,
so fine-tuning updates its variables. It is called through its ``serving_default``
signature, or through its ``__call__`` function when it has no such signature. A dict of
outputs is reduced to the feature vector: its only entry, or the one named
``feature_vector`` or ``default``. It sees images in [0, 1], as Hub image models take
them. Its graph stays outside the ``.keras`` file: loading re-reads it from the recorded
handle and then restores the saved values, which Keras refuses in safe mode (a SavedModel
graph is code); pass ``safe_mode=False`` to ``keras.saving.load_model`` for SavedModels
you trust. Which of the two paths a handle takes is logged at INFO.
"""

from __future__ import annotations

import logging
import posixpath
import re
from typing import Any

import keras
import tensorflow as tf

from bit_finetune.bit.backbone import build_backbone
from bit_finetune.bit.npz import has_official_names, load_official_weights
from bit_finetune.core.architectures import Architecture
from bit_finetune.errors import WeightsError

logger = logging.getLogger(__name__)

FEATURE_KEYS = ("feature_vector", "default")


def _is_url(handle: str) -> bool:
    return handle.startswith(("http://", "https://"))


def resolve_saved_model(handle: str) -> str:
    """A local (or gfile-readable) SavedModel directory for a Hub URL or a path."""
    path = handle
    if _is_url(handle):
        import tensorflow_hub

        try:
            path = tensorflow_hub.resolve(handle)
        except Exception as e:  # network, HTTP and archive errors all mean the same here
            raise WeightsError(
                f"could not fetch TF Hub handle '{handle}' ({e}); check the URL "
                "and network access, or download it and give the SavedModel directory"
            ) from e
    if not tf.io.gfile.exists(path):
        raise WeightsError(
            f"'{handle}' not found; point it at an official BiT .npz file, "
            "a TF Hub handle or a SavedModel directory, or use 'random'"
        )
    if not tf.io.gfile.exists(posixpath.join(path, "saved_model.pb")):
        raise WeightsError(
            f"'{handle}' is neither an .npz file nor a SavedModel directory "
            "(no saved_model.pb inside)"
        )
    return path


def saved_model_backbone(handle: str, architecture: Architecture) -> keras.Layer:
    """The backbone named ``backbone`` for a Hub handle or SavedModel directory.

    A native ``architecture`` backbone holding the SavedModel's weights when its variables
    carry official BiT names (then every name and shape must fit ``architecture``, else
    :class:`~bit_finetune.errors.WeightsError`), otherwise a :class:`HubBackbone`.
    """
    path = resolve_saved_model(handle)
    variables = _saved_model_variables(handle, path)
    if not has_official_names(variables):
        logger.info(
            "SavedModel '%s' has no official BiT %s variables: using its graph (TFSMLayer)",
            handle,
            architecture.name,
        )
        return HubBackbone(handle, name="backbone")
    backbone = build_backbone(architecture)
    load_official_weights(backbone, variables, handle)
    logger.info(
        "SavedModel '%s' holds official BiT variables: loaded into a native %s backbone",
        handle,
        architecture.name,
    )
    return backbone


def _saved_model_variables(handle: str, path: str) -> dict[str, tf.Variable]:
    """The SavedModel's ``variables`` attribute (Reusable SavedModel API) by name, no ``:0``."""
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # parse, op and checkpoint errors all mean the same here
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise WeightsError(f"cannot load SavedModel '{handle}' ({reason})") from e
    return {v.name.split(":")[0]: v for v in getattr(loaded, "variables", ())}


def _call_endpoint(path: str) -> str:
    """``serving_default`` when the SavedModel has that signature, else ``__call__``."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(posixpath.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    signatures = {key for graph in saved_model.meta_graphs for key in graph.signature_def}
    return "serving_default" if "serving_default" in signatures else "__call__"


@keras.saving.register_keras_serializable(package="bit_finetune")
class HubBackbone(keras.layers.TFSMLayer):
    """A fine-tunable SavedModel mapping images to a feature vector [B, F]."""

    def __init__(
        self,
        handle: str,
        call_endpoint: str | None = None,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = "float32",
    ) -> None:
        path = resolve_saved_model(handle)
        endpoint = call_endpoint or _call_endpoint(path)
        try:
            super().__init__(
                path, call_endpoint=endpoint, trainable=trainable, name=name, dtype=dtype
            )
        except ValueError as e:
            raise WeightsError(f"cannot use SavedModel '{handle}': {e}") from e
        self.handle = handle

    def _add_existing_weight(self, weight: tf.Variable) -> None:
        # Track the SavedModel's variable under a name optimizers accept: TFSMLayer keeps
        # the TF ':0' suffix, which is not a valid name scope for optimizer slots.
        # Keras has no public way to track an existing tf.Variable in a layer: this
        # overrides the private method TFSMLayer.__init__ calls for each variable and uses
        # Layer._track_variable, as it does; tests/bit/test_hub.py guards both
        # (test_keras_still_lets_the_backbone_rename_the_saved_model_variables).
        variable = keras.Variable(
            initializer=weight,
            trainable=weight.trainable,
            dtype=weight.dtype,
            shape=weight.shape,
            name=re.sub(r"[^A-Za-z0-9_.-]", "_", weight.name.split(":")[0]),
        )
        self._track_variable(variable)

    def call(self, inputs: Any, training: bool = False) -> Any:
        outputs = super().call(inputs, training=training)
        if isinstance(outputs, dict):
            outputs = outputs[self._feature_key(sorted(outputs))]
        if len(outputs.shape) != 2:
            raise WeightsError(
                f"SavedModel '{self.handle}' returns shape {tuple(outputs.shape)}; "
                "a backbone must return a feature vector [batch, features]"
            )
        return outputs

    def _feature_key(self, keys: list[str]) -> str:
        if len(keys) == 1:
            return keys[0]
        for key in FEATURE_KEYS:
            if key in keys:
                return key
        raise WeightsError(
            f"SavedModel '{self.handle}' has outputs {keys}; expected one output "
            f"or one named {' or '.join(FEATURE_KEYS)}"
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("filepath", "call_training_endpoint"):
            config.pop(key)
        return {**config, "handle": self.handle}
