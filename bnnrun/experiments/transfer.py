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
from omegaconf import DictConfig, OmegaConf

from bnnrun.config import Config, InformedPriorConfig
from bnnrun.errors import BnnrunError, ConfigError, ExitCode, full_errors, say

log = logging.getLogger("bnnrun")

#: ``_target_`` of the callback, as the experiments' YAML names it.
TARGET = f"{__name__}.Pretrain"


def pretraining_overrides(task_overrides: Sequence[str], pretrain: Sequence[str]) -> list[str]:
    """The overrides of the pretraining run: the command line's fixed (not swept) overrides,
    then the experiment's ``pretrain`` ones.

    A command-line override of a key that ``pretrain`` sets, or of a key inside a group or
    node it sets (``prior.layers`` when it says ``prior=normal``), is left out: the pretraining
    defines those itself, and e.g. an informed prior's keys do not exist in a normal prior.
    Swept overrides (``key=a,b``, intervals) belong to the jobs only.
    """
    parser = OverridesParser.create()
    own = [ov.key_or_group for ov in parser.parse_overrides(list(pretrain))]

    def replaced(key: str) -> bool:
        return any(key == k or key.startswith(f"{k}.") for k in own)

    fixed = [
        ov.input_line
        for ov in parser.parse_overrides(list(task_overrides))
        if not ov.is_sweep_override() and not replaced(ov.key_or_group)
    ]
    return [*fixed, *pretrain]


def pretrain_command(overrides: Sequence[str], run_dir: Path) -> list[str]:
    """``bnnrun OVERRIDES`` into ``run_dir`` (``overrides`` include ``resume=true``, so an
    interrupted pretraining there continues from its checkpoint)."""
    return [sys.executable, "-m", "bnnrun", *overrides, f"hydra.run.dir={run_dir}"]


def pretrain_dir(hydra_cfg: DictConfig) -> Path | None:
    """Where the :class:`Pretrain` callback of a composed ``hydra`` node writes (None if the
    config has no such callback)."""
    for callback in (hydra_cfg.get("callbacks") or {}).values():
        if callback is not None and callback.get("_target_") == TARGET:
            return Path(callback.run_dir)
    return None


def check_pretrained(cfg: Config, hydra_cfg: DictConfig) -> None:
    """Refuse a single run whose informed prior reads a transfer experiment's pretraining that
    does not exist (only the experiment's sweep runs it).

    Raises:
        ConfigError: naming the missing directory and how to fill it.
    """
    if not isinstance(cfg.prior, InformedPriorConfig) or cfg.prior.source is None:
        return
    where = pretrain_dir(hydra_cfg)
    source = Path(cfg.prior.source)
    if where is None or source != where or source.is_dir():
        return
    experiment = hydra_cfg.runtime.choices.get("experiment")
    raise ConfigError(
        f"prior.source={str(source)!r}, the pretraining of experiment={experiment}, does not "
        f"exist: the sweep pretrains it first (bnnrun -m experiment={experiment}); for one "
        "run, set hydra.sweep.dir to a sweep of it that has run, or set prior.source"
    )


class Pretrain(Callback):
    """Run the pretraining once, into ``run_dir``, before the sweep's jobs are planned.

    Args:
        run_dir: where the pretraining run goes (the experiment's informed prior reads
            ``prior.source`` from there).
        overrides: what makes the pretraining run from the sweep's config: the source data
            set and its fit, e.g. ``[prior=normal, dataset.classes=[0,1,2,3,4], seed=0]``.
            They replace the command line's overrides of the same keys
            (:func:`pretraining_overrides`).
    """

    def __init__(self, *, run_dir: str, overrides: Sequence[str]) -> None:
        self.run_dir = Path(run_dir)
        self.overrides = list(overrides)

    @classmethod
    def check_run(cls, cfg: Config, hydra_cfg: DictConfig) -> None:
        """The check ``bnnrun`` runs before a single run of a transfer experiment
        (:func:`bnnrun.cli.precheck.check_experiment`): :func:`check_pretrained`."""
        check_pretrained(cfg, hydra_cfg)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Imported here: Hydra instantiates callbacks in every bnnrun process, runs included.
        from hydra import compose

        from bnnrun.config import to_run_config
        from bnnrun.rundir import discard_unfinished
        from bnnrun.sweep.resume import JobState, job_state

        overrides = [
            # Unresolved, as Hydra's sweeper reads them: `key=${other}` stays an interpolation.
            *pretraining_overrides(
                OmegaConf.to_container(config.hydra.overrides.task, resolve=False),
                self.overrides,
            ),
            "resume=true",
        ]
        try:
            # The very config the pretraining process will record, to compare with a finished one.
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
            sys.exit(ExitCode.BAD_INPUT)
        discard_unfinished(self.run_dir)  # a failed earlier attempt runs again
        command = pretrain_command(overrides, self.run_dir)
        log.info("pretraining into %s: bnnrun %s", self.run_dir, " ".join(command[3:]))
        code = subprocess.run(command, check=False).returncode
        if code != 0:
            say(f"the pretraining failed (exit code {code}; see {self.run_dir}): no job was run")
            sys.exit(code)
