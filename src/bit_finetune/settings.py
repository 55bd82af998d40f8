"""Project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

import os
import warnings

# TensorFlow's C++ log level where it is still read (users can still set it); the start-up
# notices it no longer silences are filtered by bit_finetune.tf_quiet below.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
# Kedro's config loader calls an OmegaConf function that now warns on every run.
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
)

from kedro.config import OmegaConfigLoader

from bit_finetune.shutdown import skip_final_collection
from bit_finetune.tf_quiet import quiet_tensorflow_start_up

# Before anything imports it: TensorFlow's start-up notices stay off the console.
quiet_tensorflow_start_up()
# No cycle collection over TensorFlow's heap when the run is over (1-2 s per command).
skip_final_collection()

from bit_finetune.hooks import (
    CatalogOutputsHook,
    ParameterValidationHook,
    RunRecordHook,
)

HOOKS = (ParameterValidationHook(), CatalogOutputsHook(), RunRecordHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "catalog": ["catalog*", "catalog*/**", "**/catalog*"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
}
