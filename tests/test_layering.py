"""Imports flow one way: features ← models ← scoring ← api."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["features", "models", "scoring", "api"]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_layers_below_it(layer):
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - allowed)
        for path in (ROOT / layer).rglob("*.py")
        if imported_packages(path) - allowed
    }
    assert offenders == {}


def test_library_code_does_not_print():
    printing = []
    for layer in ("features", "models", "scoring"):
        for path in (ROOT / layer).rglob("*.py"):
            if path.name == "verify_draw.py":  # standalone verifier script, prints its verdict
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
            if calls:
                printing.append(str(path.relative_to(ROOT)))
    assert printing == []
