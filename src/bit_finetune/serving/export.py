"""A serving module around a trained classifier, for ``tf.saved_model``.

Its signatures take a batch of images of any size, resize them straight to the crop size
(the HyperRule's evaluation preprocessing) and return class probabilities, the predicted
label and its name:

- ``serve`` (also ``serving_default``): ``images`` uint8 ``[N, H, W, 3]`` (0..255);
- ``serve_float``: ``images`` float32 ``[N, H, W, 3]`` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from bit_finetune.shards.transforms import resize_to, to_unit_float


class ServingModule(tf.Module):
    """The classifier with its preprocessing and label names, ready to save."""

    def __init__(self, model: keras.Model, image_size: int, label_names: Sequence[str]):
        super().__init__(name="bit_classifier")
        if model.output_shape[-1] != len(label_names):
            raise ValueError(
                f"label_map: {len(label_names)} names for a classifier with "
                f"{model.output_shape[-1]} outputs; train and export with the same label map"
            )
        # The model's variables are what the SavedModel needs of it: tracked as a list, they
        # are saved and restored with the signatures that read them. The model itself is
        # set past tf.Module's attribute tracking, so saving does not walk its object graph
        # (every layer and its attributes) nor trace Keras' own default signature: that
        # was most of the export's time (1-2 s, seconds in a run).
        object.__setattr__(self, "model", model)
        self.model_variables = list(model.variables)
        self.image_size = int(image_size)
        # A variable, so the SavedModel keeps it: ``loaded.label_names`` lists every class.
        self.label_names = tf.Variable(list(label_names), trainable=False, dtype=tf.string)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, "images")])
    def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Classify uint8 images (0..255) of any size."""
        return self.serve_float(to_unit_float(images))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, "images")])
    def serve_float(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Classify float images in [0, 1] of any size.

        ``serve`` calls this function rather than tracing the model a second time, so the
        SavedModel holds the model's graph once.
        """
        logits = tf.cast(self.model(resize_to(images, self.image_size), training=False), tf.float32)
        label = tf.argmax(logits, axis=-1)
        return {
            "probabilities": tf.nn.softmax(logits),
            "label": label,
            "label_name": tf.gather(self.label_names, label),
        }

    def serving_signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """The signatures to save: ``serving_default``, ``serve`` and ``serve_float``."""
        serve = self.serve.get_concrete_function()
        return {
            "serving_default": serve,
            "serve": serve,
            "serve_float": self.serve_float.get_concrete_function(),
        }


def serving_module(
    model: keras.Model, image_size: int, label_names: Sequence[str]
) -> ServingModule:
    """Wrap ``model`` for serving at ``image_size`` (the HyperRule crop size)."""
    return ServingModule(model, image_size, label_names)


class ProbabilitiesModule(tf.Module):
    """The serving module called as a function: uint8 images in, class probabilities out,
    the form MLflow's TensorFlow flavour serves (it calls the saved module)."""

    def __init__(self, serving: ServingModule):
        super().__init__(name="bit_probabilities")
        self.serving = serving

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, "images")])
    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        """Class probabilities for uint8 images (0..255) of any size."""
        return self.serving.serve(images)["probabilities"]

