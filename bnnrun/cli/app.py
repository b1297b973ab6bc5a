"""The Hydra application behind ``bnnrun``: one job = validate, run, record.

Every job leaves a ``metrics.json`` saying how it ended (``ok``, ``diverged``, ``failed`` or, in a
sweep, ``skipped`` for an impossible combination) and maps that to an
:class:`~bnnrun.errors.ExitCode`.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm.contrib.logging import logging_redirect_tqdm

from bnnrun.config import register_configs, to_run_config
from bnnrun.config.compose import CONF_DIR
from bnnrun.errors import (
    BnnrunError,
    ExitCode,
    InvalidCombination,
    RunDirError,
    full_errors,
    say,
)

log = logging.getLogger("bnnrun")


register_configs()

#: Config groups that ``bnnrun --help`` leaves out: the defaults list picks their option from
#: another choice (dataset_defaults from dataset=, experiment_prior and experiment_inference
#: from experiment=), so they are how bnnrun is put together, not choices for a user.
INTERNAL_GROUPS = frozenset(
    {"hydra", "dataset_defaults", "experiment_prior", "experiment_inference"}
)


def help_groups() -> str:
    """The config groups a user chooses from, one ``group: option, ...`` line each, as Hydra
    lists them (its config search path), less :data:`INTERNAL_GROUPS`: the
    ``${bnnrun_help_groups:}`` of ``hydra.help.template``."""
    from hydra.core.global_hydra import GlobalHydra

    gh = GlobalHydra.instance()
    if gh.is_initialized():
        loader = gh.config_loader()
        groups = {g: loader.get_group_options(g) for g in loader.list_groups("")}
    else:  # resolved outside a Hydra app (e.g. a composed config printed later)
        groups = {p.name: sorted(f.stem for f in p.glob("*.yaml")) for p in CONF_DIR.iterdir()}
    return "\n".join(
        f"{group}: {', '.join(options)}"
        for group, options in sorted(groups.items())
        if options and group not in INTERNAL_GROUPS
    )


OmegaConf.register_new_resolver("bnnrun_help_groups", help_groups, replace=True)


def run_job(
    cfg: DictConfig, run_dir: Path, *, multirun: bool, cpu_threads: int | None = None
) -> int:
    """Validate, run and record one job; return its exit code. Never raises for user errors.

    ``cpu_threads`` is the XLA thread count to use where ``runtime.cpu_threads`` is null. The
    job holds ``run_dir``'s lock throughout; a directory locked by another run is refused
    (exit 2, nothing written). An earlier record of a run that did not finish is replaced (a
    finished run is never touched). In a sweep, a job whose directory holds a checkpoint of
    its own config continues from it (a single run needs ``resume=true``).
    """
    from bnnrun import rundir

    try:
        rundir.acquire(run_dir)
    except RunDirError as exc:
        if full_errors():
            raise
        say(str(exc))
        return exc.exit_code
    try:
        return _run_locked(cfg, run_dir, multirun=multirun, cpu_threads=cpu_threads)
    finally:
        rundir.release(run_dir)


def _run_locked(cfg: DictConfig, run_dir: Path, *, multirun: bool, cpu_threads: int | None) -> int:
    from bnnrun import rundir
    from bnnrun.inference.checkpoint import CHECKPOINT
    from bnnrun.pipeline.batch import claim
    from bnnrun.pipeline.execute import execute
    from bnnrun.runtime import configure_jax

    _freeze_imports()
    failure: dict[str, str] | None = None
    try:
        rundir.ensure_fresh(run_dir)  # before anything could record a failure over it
        run_cfg = to_run_config(cfg)
        if multirun and not run_cfg.resume and (run_dir / CHECKPOINT).exists():
            # A re-run sweep finishes its interrupted jobs; a checkpoint of another config
            # is still refused (check_resumable).
            log.info("the sweep's job was interrupted: continuing it from %s", CHECKPOINT)
            run_cfg = dataclasses.replace(run_cfg, resume=True)
        rt = run_cfg.runtime
        if rt.cpu_threads is None and cpu_threads is not None:
            log.info("XLA CPU threads: %d (the launcher runs jobs side by side)", cpu_threads)
        configure_jax(
            platform=rt.platform,
            cpu_threads=cpu_threads if rt.cpu_threads is None else rt.cpu_threads,
            compilation_cache=rt.compilation_cache,
        )
        record = execute(run_cfg, run_dir, prefitted=claim(run_dir) if multirun else None)
    except InvalidCombination as exc:
        if full_errors() and not multirun:
            raise
        if not multirun:
            say(str(exc))
            return ExitCode.BAD_INPUT
        failure, code = {"status": "skipped", "error": str(exc)}, ExitCode.OK
        log.info("skipped: %s", exc)
    except BnnrunError as exc:
        if full_errors():
            raise
        say(str(exc))
        if isinstance(exc, RunDirError):
            return exc.exit_code  # the directory belongs to an earlier run: write nothing
        failure, code = {"status": "failed", "error": str(exc)}, exc.exit_code
    except Exception as exc:
        if full_errors():
            raise
        log.exception("run failed")
        failure, code = (
            {"status": "failed", "error": f"{type(exc).__name__}: {exc}"},
            ExitCode.FAILED,
        )
    if failure is not None:
        rundir.write_json(run_dir / rundir.METRICS, failure)
        if not multirun:
            _log_summary(failure, run_dir)
        return code
    if not multirun:
        _log_summary(record, run_dir)
    if record["status"] == "ok":
        return ExitCode.OK
    say(f"run {record['status']}: {record.get('error', '')} (see {run_dir})")
    return ExitCode.DIVERGED


def _log_summary(record: dict[str, Any], run_dir: Path) -> None:
    """Log the lines that end a single run (:func:`bnnrun.pipeline.summary.summary_lines`):
    to the console and to ``bnnrun.log``."""
    from bnnrun.pipeline.summary import summary_lines

    files = [p.name for p in run_dir.iterdir() if p.is_file()]
    for line in summary_lines(record, run_dir, files):
        log.info("%s", line)


_imports_frozen = False


def _freeze_imports() -> None:
    """Exempt what the pipeline's imports made (modules, functions, classes of matplotlib,
    NumPyro, ...) from the garbage collector, as ``bnnrun.cli.main`` does for its own: each
    of Python's full collections scans every object it tracks, and during a run they took
    over a second (``bench/fixed_cost.py``); these objects live as long as the process
    anyway. Only under the CLI (which froze before), and only at a process's first job:
    later ones would make the garbage of the jobs before them immortal."""
    global _imports_frozen
    if gc.get_freeze_count() and not _imports_frozen:
        gc.freeze()
        _imports_frozen = True


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    from bnnrun.runtime import threads_per_job

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    threads = threads_per_job(hc.launcher) if multirun else None
    # Log lines are written above the progress bars, never glued onto one.
    with logging_redirect_tqdm():
        code = run_job(cfg, Path(hc.runtime.output_dir), multirun=multirun, cpu_threads=threads)
    if code != ExitCode.OK and not multirun:
        sys.exit(code)
