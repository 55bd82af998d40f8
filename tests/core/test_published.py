"""Published weights by name: the table, and how a name fixes training.model.architecture."""

from __future__ import annotations

import pytest

from bit_finetune.config import stage_params, validate_all
from bit_finetune.core.architectures import OFFICIAL, get_architecture
from bit_finetune.core.published import PUBLISHED, published_weights
from bit_finetune.errors import ConfigError

SIZES = ["R50x1", "R50x3", "R101x1", "R101x3", "R152x2", "R152x4"]


def model_params(**model):
    return stage_params("training", {"model": model}).model


@pytest.mark.parametrize("series", ["S", "M"])
@pytest.mark.parametrize("size", SIZES)
def test_every_released_size_resolves_to_its_official_url(series, size) -> None:
    entry = published_weights(f"BiT-{series}-{size}")
    assert entry.architecture == size and size in OFFICIAL
    assert entry.url() == f"https://storage.googleapis.com/bit_models/BiT-{series}-{size}.npz"


def test_distilled_and_imagenet_fine_tuned_files_are_named() -> None:
    assert published_weights("BiT-M-R50x1-distilled-224").url("http://127.0.0.1:1/") == (
        "http://127.0.0.1:1/distill/R50x1_224.npz"
    )
    assert published_weights("BiT-M-R50x1-distilled-160").file == "distill/R50x1_160.npz"
    assert published_weights("BiT-M-R152x2-teacher-384").architecture == "R152x2"
    assert published_weights("BiT-M-R101x3-ILSVRC2012").file == "BiT-M-R101x3-ILSVRC2012.npz"
    assert all(entry.architecture in OFFICIAL for entry in PUBLISHED.values())


def test_names_ignore_letter_case_and_paths_are_not_names(tmp_path) -> None:
    assert published_weights(" bit-m-r50x1 ").name == "BiT-M-R50x1"
    local = tmp_path / "BiT-M-R50x1.npz"
    for weights in ("random", str(local), "BiT-M-R50x1.npz", "https://tfhub.dev/google/bit/m-r50x1/1"):
        assert published_weights(weights) is None


def test_an_unknown_bit_name_suggests_the_published_ones() -> None:
    with pytest.raises(ConfigError, match=r"training\.model\.weights: 'BiT-M-R50x2'") as error:
        model_params(weights="BiT-M-R50x2")
    assert "did you mean BiT-M-R50x3" in str(error.value)
    assert "BiT-S-R152x4" in str(error.value)


def test_a_name_fixes_the_architecture_when_it_is_omitted() -> None:
    params = model_params(weights="BiT-S-R101x3")
    assert params.architecture == "R101x3"
    validate_all({"training": {"model": {"weights": "BiT-S-R101x3"}}})
    assert get_architecture(params.architecture) is OFFICIAL["R101x3"]


def test_without_a_name_the_architecture_defaults_to_r50x1() -> None:
    assert model_params().architecture == "R50x1"
    assert model_params(architecture="R14x0.25").architecture == "R14x0.25"


def test_a_matching_architecture_may_be_given() -> None:
    assert model_params(weights="BiT-M-R152x4", architecture="r152x4").architecture == "r152x4"


def test_a_contradicting_architecture_names_both_keys() -> None:
    with pytest.raises(ConfigError) as error:
        model_params(weights="BiT-M-R50x3", architecture="R50x1")
    message = str(error.value)
    assert message.startswith("training.model.architecture: R50x1 contradicts")
    assert "the weights BiT-M-R50x3" in message and "R50x3 weights" in message


def test_download_parameters_parse() -> None:
    params = model_params(weights="BiT-M-R50x1", cache_dir="/tmp/w", base_url="http://127.0.0.1:1")
    assert (params.cache_dir, params.base_url, params.download_wait) == (
        "/tmp/w",
        "http://127.0.0.1:1",
        3600.0,
    )
    with pytest.raises(ConfigError, match=r"training\.model\.download_wait"):
        model_params(download_wait=0)
