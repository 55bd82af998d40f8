"""Parameter validation names the key and the fix."""

import pytest

from bit_finetune.config import IngestionParams, stage_params, validate_all
from bit_finetune.errors import ConfigError


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


def test_on_and_off_read_as_yaml_booleans_are_the_switches():
    # `--params training.mixed_precision=off` and YAML 1.1 turn off into False
    params = stage_params("training", {"mixed_precision": False, "xla": True})
    assert (params.mixed_precision, params.xla) == ("off", "on")
    with pytest.raises(ConfigError, match="training.finetune: False is not allowed"):
        stage_params("training", {"finetune": False})


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


def test_overrides_typed_on_the_command_line_parse_with_their_reason():
    """`--params` splits on commas, so lists come as numbers separated by spaces; a plain
    value is recorded with hyperrule.override_reason."""
    from kedro.framework.cli.utils import _split_params  # how `kedro run --params` parses

    typed = "hyperrule.overrides.lr_boundaries=300 600 900,hyperrule.overrides.total_steps=1000"
    raw = _split_params(None, None, typed + ",hyperrule.override_reason=a longer schedule")
    settings = stage_params("hyperrule", raw["hyperrule"])
    assert settings.overrides == {
        "lr_boundaries": {"value": [300, 600, 900], "reason": "a longer schedule"},
        "total_steps": {"value": 1000, "reason": "a longer schedule"},
    }
    typed = _split_params(None, None, "hyperrule.overrides.lr_boundaries=[]")
    none = stage_params("hyperrule", typed["hyperrule"])
    assert none.overrides["lr_boundaries"]["value"] == []
    assert "no reason given" in none.overrides["lr_boundaries"]["reason"]
    one = stage_params("hyperrule", {"overrides": {"lr_boundaries": 300}})
    assert one.overrides["lr_boundaries"]["value"] == [300]


def test_an_override_with_its_own_reason_keeps_it():
    settings = stage_params("hyperrule", {
        "overrides": {"learning_rate": {"value": 0.01, "reason": "mine"}, "mixup_alpha": 0},
        "override_reason": "typed",
    })
    assert settings.overrides["learning_rate"] == {"value": 0.01, "reason": "mine"}
    assert settings.overrides["mixup_alpha"] == {"value": 0.0, "reason": "typed"}


@pytest.mark.parametrize("steps", ["300 six", [1.5], "3e2"])
def test_a_list_of_steps_that_is_not_one_names_the_form(steps):
    with pytest.raises(ConfigError, match=r'hyperrule\.overrides\.lr_boundaries: .*"hyperrule'
                                          r"|hyperrule\.overrides\.lr_boundaries: expected int"):
        stage_params("hyperrule", {"overrides": {"lr_boundaries": steps}})


def test_a_local_npz_file_sets_the_architecture_left_unset(tmp_path):
    from bit_finetune.bit.backbone import build_backbone
    from bit_finetune.bit.classifier import build_classifier
    from bit_finetune.bit.npz import save_npz
    from bit_finetune.errors import naming_keys

    path = tmp_path / "mine.npz"
    save_npz(build_backbone("R14x0.25"), str(path))
    (tmp_path / "other.npz").write_bytes(b"not an archive")

    def model(**values):
        return stage_params("training", {"model": values}).model

    assert model(weights=str(path)).architecture == "R14x0.25"
    assert model(weights=str(tmp_path / "other.npz")).architecture == "R50x1"  # load says why
    given = model(weights=str(path), architecture="R26x0.5")
    with pytest.raises(ConfigError) as error, naming_keys():
        build_classifier(given.architecture, 2, weights=given.weights)
    assert str(error.value).startswith(
        f"training.model.architecture: '{path}' holds R14x0.25 weights, but the model is R26x0.5")
