"""The one-line refusal every schema's ``__post_init__`` raises for a value out of range, and
the checks that apply to every number of a config (:func:`check_numbers`)."""

from __future__ import annotations

import dataclasses
import math
from enum import Enum
from typing import Any

from bnnrun.errors import ConfigError

#: Largest finite float32, and its smallest normal magnitude: JAX runs in float32, where a
#: larger number is inf and a smaller non-zero one is 0 (or a denormal, flushed to 0 on CPU).
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38

#: Counts and sizes become int32 in JAX (64-bit types are off).
INT32_MAX = 2**31 - 1

#: Seeds seed NumPy's RandomState (scikit-learn's ``random_state``): an integer in [0, 2**32).
SEED_MAX = 2**32 - 1


def require(ok: bool, key: str, allowed: str, got: Any) -> None:
    """Raise :class:`ConfigError` naming ``key``, the value ``got`` and what is ``allowed``."""
    if not ok:
        raise ConfigError(f"{key}={got!r} is not allowed: {key} must be {allowed}")


def check_numbers(node: Any, prefix: str = "") -> None:
    """Raise :class:`ConfigError` for a number of the dataclass ``node`` (and of the dataclasses
    and lists it holds) that cannot be used: a float that is not finite or not representable in
    float32 (``inf``, ``nan``, ``1e39``, ``1e-50``), a seed outside [0, 2**32 - 1], or another
    integer outside int32. ``prefix`` is the node's key, with its dot (``"prior."``)."""
    for f in dataclasses.fields(node):
        _check_value(getattr(node, f.name), f"{prefix}{f.name}", seed=f.name == "seed")


def _check_value(value: Any, key: str, *, seed: bool) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        check_numbers(value, f"{key}.")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_value(item, key, seed=seed)
    elif isinstance(value, bool | str | Enum) or value is None:
        return
    elif isinstance(value, float):
        require(math.isfinite(value), key, "a finite number", value)
        require(
            value == 0 or FLOAT32_TINY <= abs(value) <= FLOAT32_MAX,
            key,
            f"0 or of magnitude in [{FLOAT32_TINY:.4g}, {FLOAT32_MAX:.4g}] (float32, in which "
            "JAX computes)",
            value,
        )
    elif isinstance(value, int):
        if seed:
            require(0 <= value <= SEED_MAX, key, f"an integer in [0, {SEED_MAX}]", value)
        else:
            require(abs(value) <= INT32_MAX, key, f"an integer of magnitude <= {INT32_MAX}", value)


def split_sizes(n: int, test_fraction: float) -> tuple[int, int]:
    """``(train, test)`` sizes of a split of ``n`` items holding out ``test_fraction``, as
    scikit-learn's ``train_test_split`` computes them (the test part rounded up)."""
    n_test = math.ceil(test_fraction * n)
    return n - n_test, n_test


def require_split(
    n: int, test_fraction: float, *, key: str, per_part: int, what: str, got: Any
) -> None:
    """Refuse a ``test_fraction`` split of ``n`` items that leaves either part with fewer than
    ``per_part`` items (a stratified split needs one per class in each part)."""
    n_train, n_test = split_sizes(n, test_fraction)
    require(
        min(n_train, n_test) >= per_part,
        key,
        f"such that both the training and the test part hold at least {per_part} {what} "
        f"(this split of {n} leaves {n_train} and {n_test})",
        got,
    )
