"""Which jobs of a re-run sweep are already done.

A job is done when its directory holds a ``metrics.json`` with status ``ok`` whose ``config``
(the resolved, validated config that bnnrun itself recorded) is the job's config. ``runtime``
settings (platform, threads, cache, progress bar) say how a run ran, and ``resume`` how it
started (a resumed run ends bit-identical), not what it computed, so they are left out of the
comparison: a sweep re-run with another launcher, or with ``resume=true``, still skips.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Any

from bnnrun.config import Config
from bnnrun.rundir import read_metrics

#: Config sections that do not change a run's results (``logger``: where it is also recorded).
NOT_COMPARED = ("runtime", "resume", "logger")


class JobState(Enum):
    """What a job's directory holds."""

    TO_RUN = "to run"  # nothing finished: no metrics.json, or one recording a failure
    DONE = "done"  # a finished run of this very config
    OTHER = "other"  # a finished run of another config: never overwritten


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A recorded config, as JSON would give it back, without the :data:`NOT_COMPARED` parts."""
    plain = json.loads(json.dumps(config))
    plain.setdefault("likelihood", {"kind": "auto"})  # recorded before the group existed
    return {k: v for k, v in plain.items() if k not in NOT_COMPARED}


def job_state(run_dir: Path, cfg: Config) -> JobState:
    """Whether the job ``cfg`` in ``run_dir`` still has to run."""
    record = read_metrics(run_dir)
    if record is None or record.get("status") != "ok":
        return JobState.TO_RUN
    same = comparable(record.get("config", {})) == comparable(asdict(cfg))
    return JobState.DONE if same else JobState.OTHER
