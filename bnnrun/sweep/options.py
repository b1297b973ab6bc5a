"""The bnnrun sweeper's own options (``hydra.sweeper.*``), checked before a sweep starts."""

from __future__ import annotations

from bnnrun.errors import ConfigError


def check_options(*, interval_points: object, batch: object) -> None:
    """Raise :class:`ConfigError` for an impossible ``hydra.sweeper.interval_points`` (an
    integer >= 2) or ``hydra.sweeper.batch`` (an integer >= 1, or null)."""
    if (
        isinstance(interval_points, bool)
        or not isinstance(interval_points, int)
        or (interval_points < 2)
    ):
        raise ConfigError(
            f"hydra.sweeper.interval_points={interval_points} is not allowed: it must be an "
            "integer >= 2 (the points of each interval, both ends included)"
        )
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ConfigError(
            f"hydra.sweeper.batch={batch} is not allowed: it must be an integer >= 1 "
            "(1: every job fits alone) or null (as many fits together as memory allows)"
        )
