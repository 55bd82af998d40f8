"""Project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

import os
import warnings
from typing import Any

# TensorFlow's C++ log level where it is still read (users can still set it); the start-up
# notices it no longer silences are filtered by bit_finetune.tf_quiet below.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
# Kedro's config loader calls an OmegaConf function that now warns on every run.
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
)

from kedro.config import MissingConfigException, OmegaConfigLoader

from bit_finetune.logs import plain_lines_when_piped
from bit_finetune.shutdown import skip_final_collection
from bit_finetune.tf_quiet import quiet_tensorflow_start_up

# Before anything imports it: TensorFlow's start-up notices stay off the console.
quiet_tensorflow_start_up()
# No cycle collection over TensorFlow's heap when the run is over (1-2 s per command).
skip_final_collection()
# Written to a file or a pipe, the log is plain lines, never wrapped at 80 columns.
plain_lines_when_piped()

from bit_finetune.hooks import (
    CatalogOutputsHook,
    ParameterValidationHook,
    RunLockHook,
    RunRecordHook,
)

HOOKS = (ParameterValidationHook(), RunLockHook(), CatalogOutputsHook(), RunRecordHook())


class EnvironmentConfigLoader(OmegaConfigLoader):
    """Kedro's ``OmegaConfigLoader`` with each environment's artefacts in a folder of its
    own: the catalog's paths start with ``${globals:data_folder}``, which is ``data`` for
    the default environment (the embedded default) and ``data/<env>`` for
    ``kedro run --env <env>``, unless the environment's ``globals.yml`` sets it."""

    def __init__(self, conf_source: str, env: str | None = None, **kwargs: Any) -> None:
        super().__init__(conf_source, env=env, **kwargs)
        try:
            values = self["globals"]
        except MissingConfigException:
            values = {}
        self["globals"] = {"data_folder": data_folder(self.env, self.default_run_env), **values}


def data_folder(env: str | None, default_env: str) -> str:
    """Where an environment's artefacts go, relative to the project."""
    return "data" if env in (None, "", default_env) else f"data/{env}"


CONFIG_LOADER_CLASS = EnvironmentConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    # The embedded default (the digits, a small BiT from scratch) is an environment like
    # any other dataset's, so its parameters never leak into another's: `kedro run`
    # runs it, `kedro run --env <yours>` runs base plus yours.
    "default_run_env": "digits",
    "config_patterns": {
        "catalog": ["catalog*", "catalog*/**", "**/catalog*"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    # An environment's parameters override the base ones key by key.
    "merge_strategy": {"parameters": "soft"},
}
