"""What a sweep says while it runs: which overrides vary, ``job k/N`` with an ETA, and the
impossible combinations it left out, compactly. Pure formatting; the sweeper logs the lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bnnrun.pipeline.summary import headline

#: At most this many impossible combinations are shown as examples.
MAX_EXAMPLES = 3


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key, value


def varying_keys(grid: Sequence[Sequence[str]]) -> list[str]:
    """The override keys whose value is not the same in every job of ``grid`` (override lists
    ``key=value``), in the order they first appear; a key missing from some jobs varies."""
    jobs = [dict(_split(o) for o in overrides) for overrides in grid]
    keys = list(dict.fromkeys(key for job in jobs for key in job))
    return [key for key in keys if len({job.get(key) for job in jobs}) > 1]


def varying_part(overrides: Sequence[str], keys: Sequence[str]) -> str:
    """The overrides of one job whose key is in ``keys``, space-separated (``""`` if none)."""
    wanted = set(keys)
    return " ".join(o for o in overrides if _split(o)[0] in wanted)


def constants(grid: Sequence[Sequence[str]], keys: Sequence[str]) -> str:
    """The overrides that every job of ``grid`` shares (the keys not in ``keys``), as in the
    first job, space-separated."""
    wanted = set(keys)
    return " ".join(o for o in (grid[0] if grid else []) if _split(o)[0] not in wanted)


def left_out(impossible: Sequence[Sequence[str]], keys: Sequence[str]) -> str:
    """The impossible combinations in one line: their count and at most :data:`MAX_EXAMPLES`
    of them (by their varying overrides ``keys``), e.g. ``"2 left out, e.g. prior=flat
    hyperprior=half_normal; ..."``; ``""`` if there are none."""
    if not impossible:
        return ""
    shown = [varying_part(o, keys) or " ".join(o) for o in impossible[:MAX_EXAMPLES]]
    more = len(impossible) - len(shown)
    text = f"{len(impossible)} left out (impossible combinations), e.g. {'; '.join(shown)}"
    return text + (f"; and {more} more" if more else "")


def duration(seconds: float) -> str:
    """``seconds`` as ``"42 s"``, ``"3 min 05 s"`` or ``"2 h 07 min"``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def eta(elapsed: float, done: int, total: int) -> str:
    """The time left after ``done`` of ``total`` jobs took ``elapsed`` seconds, at their mean
    rate: e.g. ``"ETA 1 min 30 s"``; ``"done"`` when none is left, ``"ETA unknown"`` before
    any job finished."""
    left = total - done
    if left <= 0:
        return "done"
    if done <= 0:
        return "ETA unknown"
    return f"ETA {duration(elapsed / done * left)}"


class SweepProgress:
    """The lines of a sweep's progress: ``job k/N`` and its varying overrides as each job
    starts, and its status, headline metric and the ETA of the rest as it ends.

    Args:
        total: the jobs to run (N).
        keys: the override keys that vary (:func:`varying_keys`).
        start: the clock (``time.perf_counter()``) when the first job started.
    """

    def __init__(self, total: int, keys: Sequence[str], start: float) -> None:
        self.total, self.keys, self.start = total, list(keys), start
        self.started = self.finished = 0

    def job_started(self, overrides: Sequence[str]) -> str:
        """``job k/N: <varying overrides>`` for the next job."""
        self.started += 1
        part = varying_part(overrides, self.keys) or "(no override varies)"
        return f"job {self.started}/{self.total}: {part}"

    def job_finished(self, record: Mapping[str, Any] | None, now: float) -> str:
        """``job k/N <status>: <headline metrics>; ETA ...`` for the job that just ended,
        ``record`` being its ``metrics.json`` (None: it wrote none), ``now`` the clock."""
        self.finished += 1
        status = "wrote no metrics.json" if record is None else record.get("status", "unknown")
        text = f"job {self.finished}/{self.total} {status}"
        if record is not None and (metrics := headline(record)):
            text += f": {metrics}"
        return f"{text}; {eta(now - self.start, self.finished, self.total)}"
