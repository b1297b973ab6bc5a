"""The one-line refusal every schema's ``__post_init__`` raises for a value out of range."""

from __future__ import annotations

from typing import Any

from bnnrun.errors import ConfigError


def require(ok: bool, key: str, allowed: str, got: Any) -> None:
    """Raise :class:`ConfigError` naming ``key``, the value ``got`` and what is ``allowed``."""
    if not ok:
        raise ConfigError(f"{key}={got!r} is not allowed: {key} must be {allowed}")
