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
# A tracking server that does not answer fails the run in seconds, not minutes of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

from kedro.config import MissingConfigException, OmegaConfigLoader

from bit_finetune.logs import drop_unactionable_warnings, plain_lines_when_piped
from bit_finetune.shutdown import skip_final_collection
from bit_finetune.tf_quiet import quiet_tensorflow_start_up

# Before anything imports it: TensorFlow's start-up notices stay off the console.
quiet_tensorflow_start_up()
# No cycle collection over TensorFlow's heap when the run is over (1-2 s per command).
skip_final_collection()
# Written to a file or a pipe, the log is plain lines, never wrapped at 80 columns.
plain_lines_when_piped()
# Warnings no user can act on stay out of the log (also done at the CLI's start).
drop_unactionable_warnings()

from bit_finetune.hooks import (
    CatalogOutputsHook,
    ParameterValidationHook,
    RunLockHook,
    RunRecordHook,
    TrackingHook,
)
from bit_finetune.training.cluster import is_chief
from bit_finetune.training.tracking import tracking_switched_on

HOOKS = (
    ParameterValidationHook(),
    RunLockHook(),
    CatalogOutputsHook(),
    RunRecordHook(),
    TrackingHook(),
)

# MLflow tracking is kedro-mlflow's hook, registered by the `mlflow` extra: one MLflow run
# per `kedro run`, from the chief of a cluster only, unless BIT_FINETUNE_TRACKING=off.
if not (tracking_switched_on() and is_chief()):
    DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)


class EnvironmentConfigLoader(OmegaConfigLoader):
    """Kedro's ``OmegaConfigLoader`` with each environment's artefacts in a folder of its
    own: the catalog's paths start with ``${globals:data_folder}``, which is ``data`` for
    the default environment (the embedded default) and ``data/<env>`` for
    ``kedro run --env <env>``, unless the environment's ``globals.yml`` sets it. Its runs
    are tracked in the MLflow experiment ``${globals:dataset}``, the environment's name."""

    def __init__(self, conf_source: str, env: str | None = None, **kwargs: Any) -> None:
        super().__init__(conf_source, env=env, **kwargs)
        try:
            values = self["globals"]
        except MissingConfigException:
            values = {}
        self["globals"] = {
            "data_folder": data_folder(self.env, self.default_run_env),
            "dataset": self.env or self.default_run_env,
            **values,
        }


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
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
    # An environment's parameters override the base ones key by key.
    "merge_strategy": {"parameters": "soft"},
}
