"""What a BiT classifier was built as, kept in the model's Keras config.

A :class:`DescribedModel` is a functional model whose config holds its architecture and
the weights it started from, so a ``.keras`` file keeps them and nothing has to be read
back from the model's name. A classifier saved before classifiers kept a description
loads as a plain functional model; :func:`describe` still tells its architecture, by the
name :func:`classifier_name` gave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from bit_finetune.core.architectures import ARCHITECTURES, Architecture, get_architecture


@dataclass(frozen=True)
class Description:
    """A classifier's architecture (``"R50x1"``) and the weights it started from, as
    ``training.model.weights`` gave them: ``"random"``, a published name, a path or a
    TF Hub handle; None when unknown (a classifier saved before descriptions existed)."""

    architecture: str
    initial_weights: str | None


@keras.saving.register_keras_serializable(package="bit_finetune")
class DescribedModel(keras.Model):
    """A functional model with a :class:`Description`: ``DescribedModel(inputs, outputs,
    architecture=..., initial_weights=..., name=...)``.

    ``keras.models.clone_model`` calls the constructor without the description and
    fails; copy the model through its config (``from_config(model.get_config())``).
    """

    def __init__(
        self, *args: Any, architecture: str, initial_weights: str | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.description = Description(get_architecture(architecture).name, initial_weights)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "architecture": self.description.architecture,
            "initial_weights": self.description.initial_weights,
        }


def classifier_name(architecture: Architecture) -> str:
    """The model name of a classifier of ``architecture`` (``bit_R50x1``, ``bit_R14x0_25``)."""
    return f"bit_{architecture.name.replace('.', '_')}"


_BY_NAME = {classifier_name(arch): arch.name for arch in ARCHITECTURES.values()}


def describe(model: keras.Model) -> Description | None:
    """``model``'s description; for a plain functional model named like a classifier (one
    saved before classifiers kept a description), its architecture with weights unknown;
    None for any other model."""
    if isinstance(model, DescribedModel):
        return model.description
    architecture = _BY_NAME.get(model.name)
    return None if architecture is None else Description(architecture, None)
