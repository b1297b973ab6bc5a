"""``hydra/sweeper=bnnrun``: Hydra's basic grid sweeper, plus what a sweep of BNN runs needs.

- ``key=interval(a,b)`` and ``key=tag(log,interval(a,b))`` sweep ``interval_points`` evenly or
  log-spaced values (:mod:`bnnrun.sweep.grid`).
- Combinations that cannot go together (a flat prior with a learned scale) are left out of the
  grid before anything runs; they are not jobs, so they neither fail nor count.
- Re-running a sweep into the same ``hydra.sweep.dir`` skips the jobs whose directory already
  holds a finished (``ok``) run of the same resolved config (:mod:`bnnrun.sweep.resume`); missing
  and failed jobs run again, keeping their job numbers. A directory holding a finished run of
  another config stops the sweep before any job runs: finished runs are never overwritten.

Heavy modules are imported in :meth:`BnnrunSweeper.sweep`, because Hydra imports this module in
every ``bnnrun`` process while it scans for plugins. (No ``from __future__ import annotations``:
Hydra's scanner runs this module before it is in ``sys.modules``, where dataclasses look up
string annotations.)
"""

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class BnnrunSweeperConf:
    _target_: str = "hydra_plugins.bnnrun_sweeper.bnnrun_sweeper.BnnrunSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045 (OmegaConf's schema types)
    params: Optional[dict[str, str]] = None  # noqa: UP045
    # points of each interval sweep, e.g. prior.scale=tag(log,interval(0.01,10))
    interval_points: int = 7


ConfigStore.instance().store(
    group="hydra/sweeper", name="bnnrun", node=BnnrunSweeperConf, provider="bnnrun"
)


@dataclass
class Job:
    """One job of the grid: its number, overrides and directory."""

    num: int
    overrides: list[str]
    run_dir: Path


class BnnrunSweeper(BasicSweeper):
    """Hydra's :class:`BasicSweeper` with interval grids, impossible combinations left out and
    finished jobs skipped."""

    def __init__(
        self,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
        interval_points: int = 7,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.interval_points = interval_points

    def _grid(self, arguments: Sequence[str]) -> list[list[str]]:
        """Every combination of the swept values, as override lists."""
        from bnnrun.sweep.grid import expand_intervals

        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        overrides = expand_intervals(overrides, num=self.interval_points, parser=parser)
        (grid,) = self.split_arguments(overrides, None)
        return grid

    def _plan(self, grid: Sequence[list[str]]) -> tuple[list[Job], list[Job], list[list[str]]]:
        """Compose every job: (jobs to run, jobs already done, impossible combinations)."""
        from bnnrun.config import absent_key, to_run_config
        from bnnrun.config.compose import without_hydra
        from bnnrun.errors import ConfigError, ExitCode, InvalidCombination, say
        from bnnrun.sweep.resume import JobState, job_state

        assert self.hydra_context is not None and self.config is not None
        to_run: list[Job] = []
        done: list[Job] = []
        impossible: list[list[str]] = []
        for overrides in grid:
            if absent_key(overrides) is not None:  # e.g. prior.scale=0.1 with prior=flat
                impossible.append(overrides)
                continue
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            try:
                run_cfg = to_run_config(without_hydra(cfg))
            except InvalidCombination:
                impossible.append(overrides)
                continue
            except ConfigError:
                run_cfg = None  # the job records its own error
            num = len(to_run) + len(done)
            with open_dict(cfg):
                cfg.hydra.job.num = num
                cfg.hydra.job.id = str(num)
            HydraConfig.instance().set_config(cfg)  # subdir may use ${hydra:...}
            job = Job(num, overrides, Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir))
            state = JobState.TO_RUN if run_cfg is None else job_state(job.run_dir, run_cfg)
            if state is JobState.OTHER:
                say(
                    f"{job.run_dir} already holds a finished run of another config; it is never "
                    "overwritten: choose another hydra.sweep.dir"
                )
                sys.exit(ExitCode.BAD_INPUT)
            (done if state is JobState.DONE else to_run).append(job)
        return to_run, done, impossible

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        tic = time.perf_counter()
        to_run, done, impossible = self._plan(self._grid(arguments))
        log.info(
            "sweep of %d jobs: %d to run, %d already finished (skipped), "
            "%d impossible combinations left out (planned in %.1f s)",
            len(to_run) + len(done),
            len(to_run),
            len(done),
            len(impossible),
            time.perf_counter() - tic,
        )
        for overrides in impossible:
            log.info("\tleft out: %s", " ".join(overrides))

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        returns: list[Sequence[JobReturn]] = []
        for start, batch in _batches(to_run, self.max_batch_size):
            results = self.launcher.launch(batch, initial_job_idx=start)
            for r in results:
                _ = r.return_value  # re-raises a job's exception, as the basic sweeper does
            returns.append(results)
        return returns


def _batches(jobs: Sequence[Job], max_size: int | None) -> list[tuple[int, list[list[str]]]]:
    """Runs of consecutive job numbers, at most ``max_size`` long, as (first number, overrides):
    a launcher numbers the jobs of a batch consecutively from the first."""
    out: list[tuple[int, list[list[str]]]] = []
    for job in jobs:
        if out and job.num == out[-1][0] + len(out[-1][1]) and len(out[-1][1]) != max_size:
            out[-1][1].append(job.overrides)
        else:
            out.append((job.num, [job.overrides]))
    return out
