"""Nested config values as dotted keys, as Hydra's overrides spell them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}``: nested mappings become
    dotted keys; every other value (lists included) is kept as it is."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
