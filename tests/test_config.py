"""Parameter validation names the key and the fix."""

import pytest

from bit_finetune.config import ConfigError, IngestionParams, stage_params, validate_all


def test_defaults_parse():
    params = stage_params("ingestion", {})
    assert isinstance(params, IngestionParams)
    assert params.split_fractions.train == 0.8


@pytest.mark.parametrize(
    ("stage", "raw", "message"),
    [
        ("ingestion", {"sed": 1}, r"ingestion\.sed: unknown parameter"),
        ("ingestion", {"seed": "x"}, r"ingestion\.seed: expected int"),
        ("ingestion", {"seed": 1.5}, r"ingestion\.seed: expected int"),
        ("profiling", {"verify_decode": "yes"}, r"profiling\.verify_decode: expected true"),
        ("preprocessing", {"jpeg_quality": 101}, r"preprocessing\.jpeg_quality: 101 is out"),
        ("preprocessing", {"encoding": "gif"}, r"preprocessing\.encoding: 'gif' is not allowed"),
        ("training", {"model": {"arch": "R50x1"}}, r"training\.model\.arch: unknown"),
        ("training", {"strategy": "horovod"}, r"training\.strategy: 'horovod'"),
        ("evaluation", {"splits": "test"}, r"evaluation\.splits: expected a list"),
        ("filtering", {"max_side": 0}, r"filtering\.max_side: 0 is out of range"),
    ],
)
def test_bad_values_name_the_key(stage, raw, message):
    with pytest.raises(ConfigError, match=message):
        stage_params(stage, raw)


def test_split_fractions_must_add_up():
    with pytest.raises(ConfigError, match="ingestion.split_fractions: .* = 1.1"):
        stage_params(
            "ingestion", {"split_fractions": {"train": 0.8, "validation": 0.2, "test": 0.1}}
        )


def test_nullable_values_accept_null():
    assert stage_params("filtering", {"max_side": None}).max_side is None
    assert stage_params("ingestion", {"examples_per_class": 5}).examples_per_class == 5


def test_unknown_section_is_named():
    with pytest.raises(ConfigError, match="trainig: unknown parameter section"):
        validate_all({"trainig": {}})


def test_namespaced_sections_are_validated_as_their_stage():
    namespaced = {
        "upstream": {"ingestion": {"seed": 1}, "training": {"model": {"architecture": "R14x0.25"}}},
        "downstream": {"hyperrule": {"batch_size": 32}},
    }
    validate_all(namespaced)
    with pytest.raises(ConfigError, match=r"upstream\.ingestion\.sed: unknown parameter"):
        validate_all({"upstream": {"ingestion": {"sed": 1}}})
    with pytest.raises(ConfigError, match=r"downstream\.hyperrule\.batch_size: 0 is out of range"):
        validate_all({"downstream": {"hyperrule": {"batch_size": 0}}})
    with pytest.raises(ConfigError, match=r"^a\.b\.training\.model\.architecture: unknown BiT"):
        validate_all({"a": {"b": {"training": {"model": {"architecture": "R1x1"}}}}})


def test_a_namespace_holds_only_stage_sections():
    with pytest.raises(ConfigError, match=r"upstream\.trainig: unknown parameter section"):
        validate_all({"upstream": {"trainig": {}, "training": {}}})
    with pytest.raises(ConfigError, match=r"^trainig: unknown parameter section"):
        validate_all({"trainig": {"model": {"architecture": "R50x1"}}})
