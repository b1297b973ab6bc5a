"""Transfer experiments: the pretraining run that a sweep's informed priors are centred on.

``experiment=transfer_*`` sweeps ``prior=normal,informed`` over seeds on a small target data
set. Its informed prior (``conf/experiment_prior/<experiment>_informed.yaml``) reads
``prior.source`` from ``<sweep dir>/pretrain``. :class:`Pretrain`, a Hydra callback the
experiment adds to ``hydra.callbacks``, fills that directory once when the multirun starts,
before the sweeper plans any job, so every launcher finds it there: it runs ``bnnrun`` with the
sweep's fixed command-line overrides and then the experiment's pretraining overrides, as an
ordinary run in its own process. A directory that already holds a finished pretraining of the
same config (a re-run sweep) is reused; one of another config is never overwritten.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("bnnrun")


def fixed_overrides(task_overrides: Sequence[str]) -> list[str]:
    """The command line's overrides that are not swept (``key=value``, not ``key=a,b``):
    those hold for the pretraining too."""
    parsed = OverridesParser.create().parse_overrides(list(task_overrides))
    return [ov.input_line for ov in parsed if not ov.is_sweep_override()]


def pretrain_command(overrides: Sequence[str], run_dir: Path) -> list[str]:
    """``bnnrun OVERRIDES`` into ``run_dir``, continuing an interrupted pretraining there."""
    return [sys.executable, "-m", "bnnrun", *overrides, f"hydra.run.dir={run_dir}", "resume=true"]


class Pretrain(Callback):
    """Run the pretraining once, into ``run_dir``, before the sweep's jobs are planned.

    Args:
        run_dir: where the pretraining run goes (the experiment's informed prior reads
            ``prior.source`` from there).
        overrides: what makes the pretraining run from the sweep's config: the source data
            set and its fit, e.g. ``[prior=normal, dataset.classes=[0,1,2,3,4], seed=0]``.
            They come after the command line's fixed overrides, so they win.
    """

    def __init__(self, *, run_dir: str, overrides: Sequence[str]) -> None:
        self.run_dir = Path(run_dir)
        self.overrides = list(overrides)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra import compose

        from bnnrun.app import EXIT_BAD_INPUT, full_errors, say
        from bnnrun.config import to_run_config
        from bnnrun.errors import BnnrunError
        from bnnrun.rundir import discard_unfinished
        from bnnrun.sweep.resume import JobState, job_state

        overrides = [*fixed_overrides(config.hydra.overrides.task), *self.overrides]
        try:
            cfg = to_run_config(compose(kwargs.get("config_name"), overrides=overrides))
        except BnnrunError as exc:
            if full_errors():
                raise
            say(f"the pretraining config ({' '.join(overrides)}) is not valid: {exc}")
            sys.exit(exc.exit_code)
        state = job_state(self.run_dir, cfg)
        if state is JobState.DONE:
            log.info("pretraining: %s already holds it (same config); reusing it", self.run_dir)
            return
        if state is JobState.OTHER:
            say(
                f"{self.run_dir} already holds a finished pretraining of another config; it is "
                "never overwritten: choose another hydra.sweep.dir"
            )
            sys.exit(EXIT_BAD_INPUT)
        discard_unfinished(self.run_dir)  # a failed earlier attempt runs again
        command = pretrain_command(overrides, self.run_dir)
        log.info("pretraining into %s: bnnrun %s", self.run_dir, " ".join(command[3:]))
        code = subprocess.run(command, check=False).returncode
        if code != 0:
            say(f"the pretraining failed (exit code {code}; see {self.run_dir}): no job was run")
            sys.exit(code)
