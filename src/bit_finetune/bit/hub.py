"""BiT backbones from TF Hub handles or local TF2 SavedModel directories.

The SavedModel is wrapped in a ``keras.layers.TFSMLayer`` (``tensorflow_hub.KerasLayer``
cannot live in a Keras 3 model) with ``trainable=True``, so fine-tuning updates its
variables. It is called through its ``serving_default`` signature, or through its
``__call__`` function when it has no such signature. A dict of outputs is reduced to the
feature vector: its only entry, or the one named ``feature_vector`` or ``default``.
BiT Hub models take images in [0, 1] and rescale internally.

Saving: a classifier containing a :class:`HubBackbone` saves to ``.keras`` with the
fine-tuned variable values, but the SavedModel's graph stays outside the file: loading
re-reads it from the recorded handle (the Hub cache or the local directory must still be
there) and then restores the saved values. Keras refuses this in safe mode, since a
SavedModel graph is code; pass ``safe_mode=False`` to ``keras.saving.load_model`` for
SavedModels you trust.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

import keras
import tensorflow as tf

from bit_finetune.config import ConfigError

PARAM = "training.model.weights"
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
            raise ConfigError(
                f"{PARAM}: could not fetch TF Hub handle '{handle}' ({e}); check the URL "
                "and network access, or download it and give the SavedModel directory"
            ) from e
    if not tf.io.gfile.exists(path):
        raise ConfigError(
            f"{PARAM}: '{handle}' not found; point it at an official BiT .npz file, "
            "a TF Hub handle or a SavedModel directory, or use 'random'"
        )
    if not tf.io.gfile.exists(posixpath.join(path, "saved_model.pb")):
        raise ConfigError(
            f"{PARAM}: '{handle}' is neither an .npz file nor a SavedModel directory "
            "(no saved_model.pb inside)"
        )
    return path


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
            raise ConfigError(f"{PARAM}: cannot use SavedModel '{handle}': {e}") from e
        self.handle = handle

    def _add_existing_weight(self, weight: tf.Variable) -> None:
        # Track the SavedModel's variable under a name optimizers accept: TFSMLayer keeps
        # the TF ':0' suffix, which is not a valid name scope for optimizer slots.
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
            raise ConfigError(
                f"{PARAM}: SavedModel '{self.handle}' returns shape {tuple(outputs.shape)}; "
                "a backbone must return a feature vector [batch, features]"
            )
        return outputs

    def _feature_key(self, keys: list[str]) -> str:
        if len(keys) == 1:
            return keys[0]
        for key in FEATURE_KEYS:
            if key in keys:
                return key
        raise ConfigError(
            f"{PARAM}: SavedModel '{self.handle}' has outputs {keys}; expected one output "
            f"or one named {' or '.join(FEATURE_KEYS)}"
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("filepath", "call_training_endpoint"):
            config.pop(key)
        return {**config, "handle": self.handle}
