"""Kedro hooks: validate all parameters before any node runs."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from bit_finetune.config import validate_all


class ParameterValidationHook:
    """Fail fast, naming the key and the fix, when a parameter is unknown or invalid."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        validate_all(catalog.load("parameters"))
