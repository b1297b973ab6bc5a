"""``hydra/sweeper=bnnrun``: Hydra's basic grid sweeper, plus what a sweep of BNN runs needs.

- ``key=interval(a,b)`` and ``key=tag(log,interval(a,b))`` sweep ``interval_points`` evenly or
  log-spaced values (:mod:`bnnrun.sweep.grid`).
- Combinations that cannot go together (a flat prior with a learned scale) are left out of the
  grid before anything runs; they are not jobs, so they neither fail nor count.
- Each job's directory is named by the overrides that vary across the grid
  (:meth:`BnnrunSweeper._name_by_what_varies`), made one path component by :func:`job_dirname`.
- Re-running a sweep into the same ``hydra.sweep.dir`` skips the jobs whose directory already
  holds a finished (``ok``) run of the same resolved config (:mod:`bnnrun.sweep.resume`); missing
  and failed jobs run again, keeping their job numbers, and an interrupted job continues from
  its checkpoint (:func:`bnnrun.cli.app.run_job`). A directory holding a finished run of
  another config stops the sweep before any job runs: finished runs are never overwritten.
- Jobs that differ only in numbers (seed, prior and hyperprior parameters, beta, temperature)
  are fitted together, as one compiled program per model structure, up to ``batch`` fits at a
  time (null: as many as memory allows; 1: every job alone), then each job predicts and writes
  its own directory as usual (:mod:`bnnrun.pipeline.batch`). This needs the in-process
  launcher; with another, every job fits alone.

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
    # fits run together as one program: null, as many as memory allows; 1, every job alone
    batch: Optional[int] = None  # noqa: UP045


ConfigStore.instance().store(
    group="hydra/sweeper", name="bnnrun", node=BnnrunSweeperConf, provider="bnnrun"
)

#: The most bytes of one path component on common file systems (ext4, XFS, APFS, NTFS).
MAX_DIRNAME_BYTES = 255
#: Hex digits of the SHA-256 of the full name that end a shortened one.
_HASH_DIGITS = 16


def job_dirname(name: str) -> str:
    """``name`` (a job's ``hydra.job.override_dirname``, e.g. ``dataset.path=a/b,seed=1``) as
    one path component: ``%`` becomes ``%25`` and ``/`` becomes ``%2F`` (so distinct names stay
    distinct), and a name over :data:`MAX_DIRNAME_BYTES` bytes of UTF-8 keeps its first bytes
    and ends with ``-`` and the first :data:`_HASH_DIGITS` hex digits of the SHA-256 of the
    whole (escaped) name, so it is stable across processes and sweeps. An empty name (no
    override, or only ones left out of names, such as ``runtime.*``) is ``defaults``."""
    import hashlib

    if not name:
        return "defaults"
    safe = name.replace("%", "%25").replace("/", "%2F")
    raw = safe.encode("utf-8")
    if len(raw) <= MAX_DIRNAME_BYTES:
        return safe
    digest = hashlib.sha256(raw).hexdigest()[:_HASH_DIGITS]
    head = raw[: MAX_DIRNAME_BYTES - _HASH_DIGITS - 1].decode("utf-8", errors="ignore")
    return f"{head}-{digest}"


# Registered here because Hydra imports this module in every bnnrun process (scanning for
# plugins, to find this sweeper) before it composes a config: conf/hydra/default.yaml names
# each job's directory ${bnnrun_dirname:${hydra.job.override_dirname}}. (Hydra's scanner may
# run this module twice, hence replace=True; the function is the same.)
OmegaConf.register_new_resolver("bnnrun_dirname", job_dirname, replace=True)


@dataclass
class Job:
    """One job of the grid: its number, overrides and directory."""

    num: int
    overrides: list[str]
    run_dir: Path
    cfg: Any = None  # the validated run config; None if it has an error (the job records it)


class BnnrunSweeper(BasicSweeper):
    """Hydra's :class:`BasicSweeper` with interval grids, impossible combinations left out and
    finished jobs skipped."""

    def __init__(
        self,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
        interval_points: int = 7,
        batch: int | None = None,
    ) -> None:
        from bnnrun.errors import ConfigError, ExitCode, say
        from bnnrun.sweep.options import check_options

        super().__init__(max_batch_size=max_batch_size, params=params)
        try:  # checked before Hydra too (bnnrun.cli.precheck), for a sweep started otherwise
            check_options(interval_points=interval_points, batch=batch)
        except ConfigError as exc:
            say(str(exc))
            sys.exit(ExitCode.BAD_INPUT)
        self.interval_points = interval_points
        self.batch = batch

    def _grid(self, arguments: Sequence[str]) -> list[list[str]]:
        """Every combination of the swept values, as override lists."""
        from bnnrun.sweep.grid import expand_intervals

        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([*self._parse_config(), *arguments])
        overrides = expand_intervals(overrides, num=self.interval_points, parser=parser)
        (grid,) = self.split_arguments(overrides, None)
        return grid

    def _name_by_what_varies(self, grid: Sequence[list[str]]) -> None:
        """Name job directories by the overrides that vary across ``grid`` only: ``prior=laplace
        seed=0,1`` gives ``seed=0`` and ``seed=1``. The overrides every job shares join Hydra's
        ``override_dirname.exclude_keys``, through a Hydra override of the sweep's config, which
        every launcher (in this process, in joblib's workers, on Slurm) composes its jobs from.
        A grid of one job keeps all its overrides in its name."""
        from bnnrun.sweep.progress import varying_keys

        assert self.config is not None
        varying = set(varying_keys(grid))
        if not varying:  # one job (or none): all its overrides name it
            return
        parsed = OverridesParser.create().parse_overrides(list(grid[0]))
        keep = {o.key_or_group for o in parsed if o.get_key_element() in varying}
        node = self.config.hydra.job.config.override_dirname
        excluded = list(node.exclude_keys)
        excluded += sorted({o.key_or_group for o in parsed} - keep - set(excluded))
        quoted = ",".join(f"'{key}'" for key in excluded)
        with open_dict(self.config):
            self.config.hydra.overrides.hydra.append(
                f"hydra.job.config.override_dirname.exclude_keys=[{quoted}]"
            )

    def _plan(self, grid: Sequence[list[str]]) -> tuple[list[Job], list[Job], list[list[str]]]:
        """Compose every job: (jobs to run, jobs already done, impossible combinations)."""
        from bnnrun.config import absent_key, to_run_config
        from bnnrun.config.compose import without_hydra
        from bnnrun.errors import ConfigError, ExitCode, InvalidCombination, say
        from bnnrun.inference.checkpoint import CHECKPOINT
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
            job = Job(
                num, overrides, Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir), run_cfg
            )
            state = JobState.TO_RUN if run_cfg is None else job_state(job.run_dir, run_cfg)
            if state is JobState.OTHER:
                say(
                    f"{job.run_dir} already holds a finished run of another config; it is never "
                    "overwritten: choose another hydra.sweep.dir"
                )
                sys.exit(ExitCode.BAD_INPUT)
            (done if state is JobState.DONE else to_run).append(job)
            if state is JobState.TO_RUN and (job.run_dir / CHECKPOINT).exists():
                log.info("\tjob #%d was interrupted: it continues from its checkpoint", num)
        return to_run, done, impossible

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        tic = time.perf_counter()
        grid = self._grid(arguments)
        self._name_by_what_varies(grid)
        to_run, done, impossible = self._plan(grid)
        log.info(
            "sweep of %d jobs: %d to run, %d already finished (skipped), "
            "%d impossible combinations left out (planned in %.1f s)",
            len(to_run) + len(done),
            len(to_run),
            len(done),
            len(impossible),
            time.perf_counter() - tic,
        )
        self._log_plan(to_run, done, impossible)

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        returns: list[Sequence[JobReturn]] = []
        if self._batching():
            for group in self._groups(to_run):
                self._fit_together(group)
                for job in group:
                    returns.append(self._launch(job.num, [job.overrides]))
            return returns
        for start, batch in _batches(to_run, self.max_batch_size):
            returns.append(self._launch(start, batch))
        return returns

    def _log_plan(
        self, to_run: Sequence[Job], done: Sequence[Job], impossible: Sequence[list[str]]
    ) -> None:
        """Log which overrides vary and which are the same in every job, and the impossible
        combinations compactly; set up the ``job k/N`` progress of :meth:`_launch`."""
        from bnnrun.sweep.progress import SweepProgress, constants, left_out, varying_keys

        grid = [*(j.overrides for j in (*to_run, *done)), *impossible]
        keys = varying_keys(grid)
        log.info("\tvarying: %s", " ".join(keys) or "nothing")
        log.info("\tthe same in every job: %s", constants(grid, keys) or "nothing")
        if impossible:
            log.info("\t%s", left_out(impossible, keys))
        self._progress = SweepProgress(len(to_run), keys, start=time.perf_counter())

    def _launch(self, start: int, batch: list[list[str]]) -> Sequence[JobReturn]:
        from bnnrun.rundir import read_metrics

        assert self.launcher is not None
        progress = getattr(self, "_progress", None)
        for overrides in batch if progress is not None else ():
            log.info("%s", progress.job_started(overrides))
        try:
            results = self.launcher.launch(batch, initial_job_idx=start)
        except Exception as exc:  # the launcher itself (a killed worker, a lost cluster)
            from bnnrun.errors import BnnrunError, ExitCode, full_errors, say

            if isinstance(exc, BnnrunError) or full_errors():
                raise
            what = (str(exc).strip().splitlines() or [""])[0]
            say(
                f"the sweep's launcher failed ({type(exc).__name__}: {what}); every finished "
                "job is kept: run the same command again to finish the sweep"
            )
            sys.exit(ExitCode.FAILED)
        for r in results:
            if progress is not None:
                hc = r.hydra_cfg
                out = None if hc is None else OmegaConf.select(hc, "hydra.runtime.output_dir")
                record = None if out is None else read_metrics(Path(out))
                log.info("%s", progress.job_finished(record, time.perf_counter()))
            _ = r.return_value  # re-raises a job's exception, as the basic sweeper does
        return results

    def _batching(self) -> bool:
        """Whether jobs may fit together: not turned off, and the launcher runs them in this
        process (which hands each its fit)."""
        if self.batch == 1:
            return False
        if type(self.launcher).__name__ != "BasicLauncher":
            log.info("jobs fit one by one: fitting them together needs the basic launcher")
            return False
        return True

    def _groups(self, jobs: Sequence[Job]) -> list[list[Job]]:
        """The jobs in groups that fit together (a group of one fits alone), in job order."""
        from bnnrun.inference.checkpoint import CHECKPOINT
        from bnnrun.pipeline.batch import batch_key, fits_alone

        groups: dict[Any, list[Job]] = {}
        alone: list[list[Job]] = []
        why_not: set[str] = set()
        for job in jobs:
            key = None if job.cfg is None else batch_key(job.cfg)
            reason = None if job.cfg is None else fits_alone(job.cfg)
            if reason is not None:
                why_not.add(reason)
            if key is None or (job.run_dir / CHECKPOINT).exists():
                alone.append([job])
            else:
                groups.setdefault(key, []).append(job)
        for reason in sorted(why_not):
            log.info("fitting alone: %s", reason)
        out = list(alone)
        for group in groups.values():
            size = self.batch or len(group)  # null: memory decides (fit_together)
            out += [group[i : i + size] for i in range(0, len(group), size)]
        return sorted(out, key=lambda g: g[0].num)

    def _fit_together(self, group: Sequence[Job]) -> None:
        """Fit ``group`` together and offer each job its fit; a group of one is left to fit
        alone, and so is every job of a group whose fitting fails."""
        if len(group) < 2:
            return
        from bnnrun.pipeline.batch import fit_together, offer
        from bnnrun.runtime import configure_jax

        rt = group[0].cfg.runtime
        configure_jax(
            platform=rt.platform, cpu_threads=rt.cpu_threads, compilation_cache=rt.compilation_cache
        )
        log.info("fitting %d jobs together (#%s)", len(group), ",".join(str(j.num) for j in group))
        try:
            fits = fit_together([j.cfg for j in group])
        except Exception:  # a bug's traceback goes to the log; the jobs still run, alone
            log.exception("fitting jobs together failed: they fit alone")
            return
        for job, fit in zip(group, fits, strict=True):
            if fit is not None:
                offer(job.run_dir, fit)


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
