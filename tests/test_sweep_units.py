"""The parts of a sweep that need no runs: grids, job planning, thread sharing, resuming."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pytest
from conftest import make_config
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import get_class
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from bnnrun import rundir
from bnnrun.cli.precheck import check_args
from bnnrun.config.compose import CONF_DIR, compose_config
from bnnrun.errors import ConfigError
from bnnrun.runtime import threads_per_job
from bnnrun.sweep.grid import expand_intervals, interval_points
from bnnrun.sweep.resume import JobState, job_state
from hydra_plugins.bnnrun_sweeper.bnnrun_sweeper import Job, _batches


def test_log_interval_gives_log_spaced_points() -> None:
    assert interval_points(0.01, 10.0, num=7, log=True) == [
        0.01, 0.03162, 0.1, 0.3162, 1.0, 3.162, 10.0
    ]  # fmt: skip
    assert interval_points(0.0, 1.0, num=5, log=False) == [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize(
    ("start", "end", "num", "message"),
    [
        (0.0, 10.0, 3, "a log-spaced interval needs both ends > 0"),
        (-1.0, 10.0, 3, "a log-spaced interval needs both ends > 0"),
        (0.1, 10.0, 1, "hydra.sweeper.interval_points must be an integer >= 2"),
    ],
)
def test_impossible_intervals_are_refused(start, end, num, message) -> None:
    with pytest.raises(ConfigError, match=message):
        interval_points(start, end, num=num, log=True, key="prior.scale")


def test_expand_intervals_turns_a_tagged_interval_into_a_choice() -> None:
    parser = OverridesParser.create()
    overrides = parser.parse_overrides(
        ["prior=normal,laplace", "prior.scale=tag(log,interval(0.1,10))", "seed=0"]
    )
    out = expand_intervals(overrides, num=3, parser=parser)
    assert [list(o.sweep_string_iterator()) for o in out[:2]] == [
        ["normal", "laplace"],
        ["0.1", "1.0", "10.0"],
    ]
    assert out[2] is overrides[2]


def test_batches_keep_job_numbers_across_skipped_jobs() -> None:
    jobs = [Job(n, [f"seed={n}"], Path(str(n))) for n in (0, 1, 3, 4, 5, 7)]
    assert _batches(jobs, None) == [
        (0, [["seed=0"], ["seed=1"]]),
        (3, [["seed=3"], ["seed=4"], ["seed=5"]]),
        (7, [["seed=7"]]),
    ]
    assert [start for start, _ in _batches(jobs, 2)] == [0, 3, 5, 7]


@pytest.mark.parametrize(
    ("launcher", "cores", "threads"),
    [
        ({"_target_": "basic"}, 2, None),  # one job at a time: every core
        ({"n_jobs": 2}, 2, 1),
        ({"n_jobs": -1}, 2, 1),  # joblib: one job per core
        ({"n_jobs": 2}, 16, 8),
        ({"n_jobs": 32}, 16, 1),
        ({"n_jobs": -2}, 16, 1),  # all cores but one: 15 jobs
        ({"cpus_per_task": 4, "tasks_per_node": 1}, 16, 4),  # submitit
        ({"cpus_per_task": None, "tasks_per_node": 1}, 16, None),
    ],
)
def test_jobs_side_by_side_share_the_cores(launcher, cores, threads) -> None:
    assert threads_per_job(launcher, cores=cores) == threads


def _finished(run_dir: Path, cfg, status: str = "ok") -> None:
    rundir.write_json(run_dir / rundir.METRICS, {"status": status, "config": asdict(cfg)})


def test_job_state_matches_the_recorded_config(tmp_path: Path) -> None:
    cfg = make_config("prior=laplace", "seed=2")
    assert job_state(tmp_path / "none", cfg) is JobState.TO_RUN
    _finished(tmp_path / "ok", cfg)
    assert job_state(tmp_path / "ok", cfg) is JobState.DONE
    threads = make_config("prior=laplace", "seed=2", "runtime.cpu_threads=1")
    assert job_state(tmp_path / "ok", threads) is JobState.DONE  # runtime is not compared
    resumed = make_config("prior=laplace", "seed=2", "resume=true")
    assert job_state(tmp_path / "ok", resumed) is JobState.DONE  # nor how the run started
    assert job_state(tmp_path / "ok", make_config("prior=laplace", "seed=3")) is JobState.OTHER
    _finished(tmp_path / "failed", cfg, status="failed")
    assert job_state(tmp_path / "failed", cfg) is JobState.TO_RUN


def test_only_records_of_unfinished_runs_are_discarded(tmp_path: Path) -> None:
    cfg = make_config()
    for status in ("ok", "diverged", "failed", "skipped"):
        _finished(tmp_path / status, cfg, status=status)
        assert rundir.discard_unfinished(tmp_path / status) is (status != "ok")
        assert (tmp_path / status / rundir.METRICS).exists() is (status == "ok")
    assert rundir.discard_unfinished(tmp_path / "empty") is False


def test_slurm_launcher_config_sets_partition_time_and_gpus() -> None:
    cfg = compose_config(
        ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=1"],
        conf_dir=CONF_DIR,
    )
    launcher = cfg.hydra.launcher
    # bnnrun's subclass of hydra-submitit-launcher's (hydra_plugins/bnnrun_slurm)
    assert issubclass(get_class(launcher._target_), SlurmLauncher)
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 1, 60)
    assert threads_per_job(launcher) == launcher.cpus_per_task == 1


def test_sweep_dirs_are_named_by_overrides_without_runtime_settings() -> None:
    args = ["prior=laplace", "seed=1", "runtime.cpu_threads=1", "resume=true"]
    cfg = compose_config(args, conf_dir=CONF_DIR)
    assert cfg.hydra.sweep.subdir == "prior=laplace,seed=1"
    assert cfg.hydra.sweeper.interval_points == 7


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("prior.scale=tag(log,interval(0,10))", "a log-spaced interval needs both ends > 0"),
        ("prior.scale=interval(-1,1)", "prior.scale must be > 0"),
        ("dataset.test_fraction=interval(0.2,1.5)", "dataset.test_fraction must be in (0, 1)"),
    ],
)
def test_interval_sweeps_are_checked_before_anything_runs(arg: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_args(["-m", arg], conf_dir=CONF_DIR)
    check_args(["-m", "prior.scale=tag(log,interval(0.01,10))"], conf_dir=CONF_DIR)


def dry_run(overrides: list[str]) -> list[list[str]]:
    """The jobs ``bnnrun -m OVERRIDES`` would launch: the bnnrun sweeper plans the sweep as in
    a real multirun (Hydra's own composition, callbacks and sweeper), but its launcher only
    records each job's overrides."""
    from hydra import initialize_config_dir
    from hydra._internal.callbacks import Callbacks
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext, RunMode
    from omegaconf import OmegaConf

    from bnnrun.config.registry import register_configs

    launched: list[list[str]] = []

    class Recorder:
        def launch(self, job_overrides, initial_job_idx: int) -> list:
            assert initial_job_idx == len(launched)  # numbered consecutively
            launched.extend(list(o) for o in job_overrides)
            return []

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="bnnrun"):
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        cfg = hydra.compose_config("config", overrides=overrides, run_mode=RunMode.MULTIRUN)
        context = HydraContext(config_loader=hydra.config_loader, callbacks=Callbacks(cfg))
        sweeper = Plugins.instance().instantiate_sweeper(
            config=cfg, hydra_context=context, task_function=lambda _: None
        )
        # Hydra's plugin scan imports the module afresh: compare by name.
        assert type(sweeper).__name__ == "BnnrunSweeper"
        sweeper.launcher = Recorder()
        sweeper.sweep(arguments=OmegaConf.to_container(cfg.hydra.overrides.task, resolve=False))
    return launched


@pytest.mark.slow
def test_paper_grid_is_26_jobs_per_seed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """experiment=paper_synthetic: 2 datasets x 4 priors x 4 hyperpriors = 32 combinations per
    seed, less the flat prior with each of the 3 learned scales on each dataset: 26 per seed."""
    caplog.set_level("INFO")
    jobs = dry_run(["experiment=paper_synthetic", f"hydra.sweep.dir={tmp_path}"])
    assert "sweep of 78 jobs: 78 to run, 0 already finished (skipped), 18 impossible" in (
        caplog.text
    )
    choices = [dict(o.split("=", 1) for o in job if "=" in o) for job in jobs]
    assert len(choices) == 78 and len({tuple(sorted(c.items())) for c in choices}) == 78
    expected = {
        (dataset, prior, hyperprior)
        for dataset in ("moons", "circles")
        for prior in ("normal", "laplace", "cauchy", "flat")
        for hyperprior in ("fixed", "half_normal", "half_cauchy", "inverse_gamma")
        if prior != "flat" or hyperprior == "fixed"
    }
    assert len(expected) == 26
    for seed in ("0", "1", "2"):
        got = {(c["dataset"], c["prior"], c["hyperprior"]) for c in choices if c["seed"] == seed}
        assert got == expected, seed


@pytest.mark.parametrize(
    "options, words",
    [
        ({"interval_points": 1, "batch": None}, "hydra.sweeper.interval_points=1 is not allowed"),
        ({"interval_points": True, "batch": None}, "interval_points=True is not allowed"),
        ({"interval_points": 7, "batch": 0}, "hydra.sweeper.batch=0 is not allowed"),
        ({"interval_points": 7, "batch": True}, "hydra.sweeper.batch=True is not allowed"),
    ],
)
def test_impossible_sweeper_options_are_refused(options: dict, words: str) -> None:
    from bnnrun.errors import ConfigError
    from bnnrun.sweep.options import check_options

    with pytest.raises(ConfigError, match=words):
        check_options(**options)
    check_options(interval_points=2, batch=None)  # the smallest allowed
    check_options(interval_points=2, batch=1)


def test_an_impossible_sweeper_option_writes_nothing(run_cli, tmp_path: Path) -> None:
    """Refused before Hydra's multirun starts, whose callbacks write into the sweep dir."""
    out = run_cli(
        "-m", "seed=0,1", "hydra.sweeper.interval_points=1", f"hydra.sweep.dir={tmp_path}/s"
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "bnnrun: error: hydra.sweeper.interval_points=1 is not allowed: it must be an integer "
        ">= 2 (the points of each interval, both ends included)"
    ]
    assert not (tmp_path / "s").exists()
