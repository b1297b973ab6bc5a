"""``hydra/launcher=slurm``: hydra-submitit-launcher's Slurm launcher, for what a cluster does
to jobs.

- **Requeue** (``scontrol requeue``, preemption with ``PreemptMode=REQUEUE``, or submitit's own
  requeue near the time limit through :meth:`BnnrunSlurmLauncher.checkpoint`): Slurm starts
  the job's script again, which calls the job function again with the same overrides. A sweep's
  job continues from its directory's SVI checkpoint by itself (:func:`bnnrun.cli.app.run_job`),
  and ends with the numbers of an uninterrupted run.
- **A job that ends without a result** (``scancel``, out of time, a lost node) is recorded as
  ``failed`` in its directory and counts as a finished job of the sweep, so that the summary,
  the report and the exit code (1) name it; running the sweep again runs it again. Upstream,
  its ``UncompletedJobError`` ended the whole sweep, and without Slurm's accounting
  (``sacct``) the sweep waited for it forever (:mod:`bnnrun.sweep.slurm`).

Imported by Hydra's plugin scan in every ``bnnrun`` process: submitit loads only when a sweep
launches. Without hydra-submitit-launcher (the ``slurm`` extra) there is no launcher here, and
``hydra/launcher=slurm`` says that the plugin is not installed.
"""

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

try:
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # pragma: no cover (the slurm extra is not installed)
    SlurmLauncher = None  # type: ignore[assignment,misc]

if SlurmLauncher is not None:

    class BnnrunSlurmLauncher(SlurmLauncher):  # type: ignore[misc,valid-type]
        """hydra-submitit-launcher's ``SlurmLauncher``, whose jobs Slurm may requeue or end
        (see the module's docstring)."""

        def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
            """Called in the job by submitit when Slurm signals the end of its time or its
            preemption (``USR2``): requeue the same call. (Its SVI checkpoint is what the
            job's last ``inference.checkpoint_every`` wrote.)"""
            log.info("Slurm ends this job (time limit or preemption): requeued, it will "
                     "continue from its last checkpoint")  # fmt: skip
            return super().checkpoint(*args, **kwargs)

        def launch(
            self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
        ) -> Sequence[JobReturn]:
            import submitit
            from submitit.core.utils import FailedJobError, UncompletedJobError

            from bnnrun.sweep.slurm import QueueWatcher

            jobs = self._submit(submitit, job_overrides, initial_job_idx)
            watcher = QueueWatcher()
            returns: list[JobReturn] = []
            for i, (overrides, job) in enumerate(zip(job_overrides, jobs, strict=True)):
                job.watcher = watcher  # this launch's jobs only, not submitit's shared one
                try:
                    returns.append(job.results()[0])
                    continue
                except UncompletedJobError:
                    pass  # Slurm ended it: no result
                except FailedJobError as exc:  # submitit's side of the job failed
                    log.error("%s", exc)
                state = watcher.get_state(job.job_id, mode="cache")
                returns.append(self._lost(initial_job_idx + i, overrides, job.job_id, state))
            return returns

        def _submit(
            self, submitit: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
        ) -> list[Any]:
            """Submit the jobs as one array: hydra-submitit-launcher 1.2's ``launch`` up to
            its waiting for them."""
            assert self.config is not None
            params = self.params
            init_keys = {"max_num_timeout", "submitit_folder"}
            executor = submitit.AutoExecutor(
                cluster=self._EXECUTOR,
                folder=params["submitit_folder"],
                **{f"{self._EXECUTOR}_max_num_timeout": params[k] for k in ["max_num_timeout"]
                   if k in params},
            )  # fmt: skip
            base = set(OmegaConf.structured(BaseQueueConf).keys())
            executor.update_parameters(
                **{k if k in base else f"{self._EXECUTOR}_{k}": v
                   for k, v in params.items() if k not in init_keys}
            )  # fmt: skip
            log.info("Submitit '%s' sweep output dir : %s", self._EXECUTOR,
                     self.config.hydra.sweep.dir)  # fmt: skip
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            if "mode" in self.config.hydra.sweep:
                os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
            job_params = []
            for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
                log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
                job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}",
                                   Singleton.get_state()))  # fmt: skip
            return list(executor.map_array(self, *zip(*job_params, strict=True)))

        def _lost(self, num: int, overrides: Sequence[str], job_id: str, state: str) -> JobReturn:
            """Record job ``num``, Slurm job ``job_id``, which ended in ``state`` without a
            result, as failed in its directory; return it as a job that ran (bnnrun's jobs
            record failures, they do not raise them)."""
            from bnnrun.sweep.slurm import lost_job_error, record_lost_job

            assert self.hydra_context is not None and self.config is not None
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg):
                cfg.hydra.job.num = num
                cfg.hydra.job.id = job_id
            HydraConfig.instance().set_config(cfg)  # the subdir may use ${hydra:...}
            run_dir = Path(cfg.hydra.sweep.dir) / str(cfg.hydra.sweep.subdir)
            with read_write(cfg.hydra.runtime):
                cfg.hydra.runtime.output_dir = str(run_dir)
            error = lost_job_error(job_id, state)
            if record_lost_job(run_dir, error):
                log.warning("job #%d: %s (recorded in %s)", num, error, run_dir)
            return JobReturn(
                overrides=list(overrides),
                cfg=cfg,
                hydra_cfg=cfg,
                working_dir=os.getcwd(),
                task_name=str(cfg.hydra.job.name),
                status=JobStatus.COMPLETED,
                _return_value=None,
            )
