"""Pickle-like loading in Python sources, found by parsing them (never importing them).

``python pickle_uses.py FILE...`` prints the uses found in the files as a JSON list."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "cloudpickle", "shelve",
                  "marshal"}
UNSAFE_CALLS = {"read_pickle", "to_pickle"}
SAFE_VALUES = {"allow_pickle": False, "safe_mode": True}


def unsafe_uses(path: Path) -> list[str]:
    """Imports of pickle-like modules, pickle calls and ``allow_pickle=True`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        elif isinstance(node, ast.Attribute) and node.attr in UNSAFE_CALLS:
            names = [node.attr]
        elif isinstance(node, ast.keyword) and node.arg in SAFE_VALUES:
            safe = isinstance(node.value, ast.Constant) and node.value.value is SAFE_VALUES[
                node.arg
            ]
            names = [] if safe else [f"{node.arg}={ast.unparse(node.value)}"]
        found += [f"{path.name}:{node.lineno}: {name}" for name in names
                  if name in UNSAFE_MODULES | UNSAFE_CALLS or "=" in name]
    return found


if __name__ == "__main__":
    print(json.dumps([use for path in sys.argv[1:] for use in unsafe_uses(Path(path))]))
