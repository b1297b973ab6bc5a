"""Interval sweeps as grids: ``key=interval(a,b)`` and ``key=tag(log,interval(a,b))``.

Hydra's basic sweeper runs only discrete values. A grid sweeper turns an interval into ``num``
points: evenly spaced, or geometrically spaced when the interval is tagged ``log`` (the paper
tuned its prior scales on such a grid). Points are rounded to 4 significant digits so that they
read well in directory names; both ends are kept exactly. An interval is continuous, so its
points are floats: sweep integers with a list or ``range(...)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override

from bnnrun.errors import ConfigError

LOG_TAG = "log"


def interval_points(
    start: float, end: float, *, num: int, log: bool, key: str = "interval"
) -> list[float]:
    """``num`` points from ``start`` to ``end``, both included.

    Raises:
        ConfigError: ``num < 2``, or a log-spaced interval with an end <= 0.
    """
    if num < 2:
        raise ConfigError(
            f"hydra.sweeper.interval_points={num} is not allowed: "
            "hydra.sweeper.interval_points must be an integer >= 2"
        )
    if log and (start <= 0 or end <= 0):
        raise ConfigError(
            f"{key}=tag(log,interval({start},{end})) is not allowed: "
            "a log-spaced interval needs both ends > 0"
        )
    values = np.geomspace(start, end, num) if log else np.linspace(start, end, num)
    rounded = [float(f"{v:.4g}") for v in values]
    rounded[0], rounded[-1] = float(start), float(end)
    return rounded


def endpoints(override: Override) -> list[str]:
    """``key=start`` and ``key=end`` of an interval sweep: enough to check a grid's values,
    which all lie between them. Raises :class:`ConfigError` for an impossible log interval."""
    sweep = override.value()
    assert isinstance(sweep, IntervalSweep)
    key = override.get_key_element()
    interval_points(sweep.start, sweep.end, num=2, log=LOG_TAG in sweep.tags, key=key)
    return [f"{key}={sweep.start}", f"{key}={sweep.end}"]


def expand_intervals(
    overrides: Sequence[Override], *, num: int, parser: OverridesParser
) -> list[Override]:
    """``overrides`` with every interval sweep replaced by a choice sweep over its grid."""
    out = []
    for ov in overrides:
        if ov.is_sweep_override() and ov.is_interval_sweep():
            sweep = ov.value()
            key = ov.get_key_element()
            points = interval_points(
                sweep.start, sweep.end, num=num, log=LOG_TAG in sweep.tags, key=key
            )
            ov = parser.parse_override(f"{key}=choice({','.join(map(str, points))})")
        out.append(ov)
    return out
