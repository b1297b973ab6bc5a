"""The Hydra callback that aggregates a sweep when its multirun ends.

Configured in ``conf/hydra/default.yaml`` (``hydra.callbacks.sweep_report``). It reads every
job's files from disk, so it works whichever launcher ran the jobs, and then makes the sweep's
exit code say whether every job finished ok.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from bnnrun.errors import ExitCode, full_errors, say

log = logging.getLogger("bnnrun")


class SweepReport(Callback):
    """Write ``summary.csv``, ``summary_by_config.csv``, ``plots/`` and ``report.html`` at the
    sweep's root; exit 1, naming the jobs, if any job failed, diverged or is missing. When the
    multirun starts, record its command line there (``command.txt``), which the report shows."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from bnnrun import rundir
        from bnnrun.sweep.report import COMMAND, command_line

        root = Path(config.hydra.sweep.dir)
        try:
            root.mkdir(parents=True, exist_ok=True)
            with rundir.atomic_path(root / COMMAND) as tmp:
                tmp.write_text(command_line(sys.argv, os.getcwd()) + "\n", encoding="utf-8")
        except OSError as exc:  # the sweep can run without it; its report then says so
            log.warning("could not record the sweep's command in %s: %s", root / COMMAND, exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from bnnrun.sweep.aggregate import aggregate
        from bnnrun.sweep.summary import NOT_OK

        root = Path(config.hydra.sweep.dir)
        try:
            result = aggregate(root)
        except Exception as exc:
            if full_errors():
                raise
            log.exception("aggregating the sweep failed")
            say(f"aggregating {root} failed ({exc}); rebuild it with: bnnrun-report {root}")
            sys.exit(ExitCode.FAILED)
        runs = result.summary.runs
        log.info("%d runs summarised; report: %s", len(runs), result.report)
        bad = runs[runs["status"].isin(NOT_OK)]
        if len(bad):
            say(f"{len(bad)} of {len(runs)} jobs did not finish ok (see {result.report}):")
            for row in bad.itertuples():
                print(f"  {row.run_dir}: {row.status}: {row.error}", file=sys.stderr)
            sys.exit(ExitCode.FAILED)
