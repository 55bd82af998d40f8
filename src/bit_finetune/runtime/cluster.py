"""The cluster a process belongs to, from the ``TF_CONFIG`` environment variable.

Plain Python (no TensorFlow), so the project's hooks can ask whether this process is
the chief before anything imports TensorFlow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping


def tf_config() -> dict:
    """The parsed ``TF_CONFIG`` environment variable ({} when unset or empty)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    return json.loads(raw) if raw else {}


def is_chief(config: Mapping | None = None) -> bool:
    """Whether this process is the chief: no cluster, task ``chief``, or worker 0 of a
    cluster without a chief."""
    config = tf_config() if config is None else config
    task = config.get("task") or {}
    if not config.get("cluster") or not task:
        return True
    kind, index = task.get("type"), int(task.get("index", 0))
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in config["cluster"])
