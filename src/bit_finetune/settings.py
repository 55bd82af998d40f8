"""Project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from typing import Any

# Before anything else: environment defaults, warning filters, TensorFlow's start-up
# notices, the quick exit, the log format (the start-up rule and its reasons are there).
from bit_finetune.startup import configure

configure()

from kedro.config import MissingConfigException, OmegaConfigLoader

from bit_finetune.hooks import (
    CatalogOutputsHook,
    ParameterValidationHook,
    RunLockHook,
    RunRecordHook,
    TrackingHook,
)
from bit_finetune.runtime.cluster import is_chief
from bit_finetune.tracking import tracking_switched_on

HOOKS = (
    ParameterValidationHook(),
    RunLockHook(),
    CatalogOutputsHook(),
    RunRecordHook(),
    TrackingHook(),
)

# MLflow tracking is kedro-mlflow's hook, registered by the `mlflow` extra: one MLflow run
# per `kedro run`, from the chief of a cluster only, when BIT_FINETUNE_TRACKING=on.
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
