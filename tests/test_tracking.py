"""The ``logger`` group: MLflow and TensorBoard callbacks, read back with the trackers' own
readers (``mlflow.MlflowClient``, TensorBoard's ``EventAccumulator``).

The fast tests drive the callbacks' hooks in-process, as Hydra does, over run directories
written by hand (so every expected number is known); the slow ones run ``bnnrun`` itself: a
sweep in two processes (joblib), a diverging run, a TensorBoard run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from bnnrun.config.compose import CONF_DIR, compose_config, without_hydra

mlflow = pytest.importorskip("mlflow")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
plugin_data_pb2 = pytest.importorskip("tensorboard.plugins.hparams.plugin_data_pb2")
json_format = pytest.importorskip("google.protobuf.json_format")

# MLflow's SQL store, under SQLAlchemy 2.1, uses a loader strategy that SQLAlchemy deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

# ---------------------------------------------------------------------------------------------
# A run directory written by hand: every number the trackers must log is known here.

ELBO = [(step, -500.0 + 3.25 * step) for step in range(1, 41)]
#: The trackers get the ELBO by chunk of inference.chunk_size steps: 16, 16 and 8 rows here.
CHUNK = 16


def by_chunk(trace: list[tuple[int, float]] | pd.DataFrame, chunk: int) -> list[tuple[int, float]]:
    """(last step, mean ELBO) of each run of ``chunk`` rows, by pandas."""
    frame = (
        trace if isinstance(trace, pd.DataFrame) else pd.DataFrame(trace, columns=["step", "elbo"])
    )
    groups = frame.groupby(np.arange(len(frame)) // chunk)
    return list(zip(groups["step"].last().tolist(), groups["elbo"].mean().tolist(), strict=True))


ELBO_BY_CHUNK = by_chunk(ELBO, CHUNK)
METRICS_JSON: dict[str, Any] = {
    "status": "ok",
    "accuracy": 0.75,
    "nll": 0.5,
    "seed": 3,
    "num_params": 57,
    "ece": None,  # a non-finite number, as JSON writes it: not a metric
    "task": "classification",
    "finished": True,  # a boolean is not a measurement either
    "per_class_accuracy": [0.5, 1.0],
    "stage_seconds": {"fit": 1.5, "predict": 0.25},
    "kl_monte_carlo_sites": ["layer1.w"],
    "config": {"seed": 3, "prior": {"scale": 1.0}},  # the recorded config: params, not metrics
}
#: The metrics of METRICS_JSON, by hand.
EXPECTED_METRICS = {
    "accuracy": 0.75,
    "nll": 0.5,
    "seed": 3.0,
    "num_params": 57.0,
    "per_class_accuracy.0": 0.5,
    "per_class_accuracy.1": 1.0,
    "stage_seconds.fit": 1.5,
    "stage_seconds.predict": 0.25,
}


def write_run(run_dir: Path, metrics: dict[str, Any] | None = METRICS_JSON) -> Path:
    """A run directory as bnnrun leaves it: .hydra/, bnnrun.log, elbo.csv, figures and
    metrics.json (none if ``metrics`` is None: a killed job)."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("seed: 3\n")
    (run_dir / ".hydra" / "overrides.yaml").write_text("- seed=3\n")
    (run_dir / "bnnrun.log").write_text("a log line\n")
    pd.DataFrame(ELBO, columns=["step", "elbo"]).to_csv(run_dir / "elbo.csv", index=False)
    (run_dir / "elbo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (run_dir / "images").mkdir()
    (run_dir / "images" / "mistakes.pdf").write_bytes(b"%PDF-1.4\n")
    (run_dir / "posterior.npz").write_bytes(b"not a figure")
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def job_cfg(overrides: list[str], run_dir: Path, *, sweep_dir: Path | None = None) -> DictConfig:
    """The full config (``hydra`` node included) Hydra hands a job's callbacks."""
    cfg = compose_config(
        [*overrides, *([f"hydra.sweep.dir={sweep_dir}"] if sweep_dir else [])],
        conf_dir=CONF_DIR,
    )
    with read_write(cfg.hydra), read_write(cfg.hydra.runtime), open_dict(cfg.hydra):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.mode = RunMode.MULTIRUN if sweep_dir else RunMode.RUN
    return cfg


def expected_params(cfg: DictConfig) -> dict[str, str]:
    """The job's config, logger aside, flattened by pandas; values as YAML/JSON spell them."""
    plain = OmegaConf.to_container(without_hydra(cfg), resolve=True, enum_to_str=True)
    assert isinstance(plain, dict)
    plain.pop("logger")
    row = pd.json_normalize(plain, sep=".").iloc[0].to_dict()
    return {k: v if isinstance(v, str) else json.dumps(_plain(v)) for k, v in row.items()}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def done() -> JobReturn:
    ret = JobReturn()
    ret.status = JobStatus.COMPLETED
    return ret


# ---------------------------------------------------------------------------------------------
# MLflow


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its tables made (Alembic's migrations take seconds: once)."""
    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path: Path, empty_store: Path) -> str:
    """A fresh copy of the empty store; its tracking URI."""
    path = tmp_path / "store" / "mlflow.db"
    path.parent.mkdir()
    shutil.copy(empty_store, path)
    return f"sqlite:///{path}"


def mlflow_overrides(store: str) -> list[str]:
    return ["logger=mlflow", f"logger.tracking_uri={store}", "logger.experiment_name=tests"]


def runs_of(store: str, experiment: str = "tests") -> list[Any]:
    client = mlflow.MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id])


def artifact_paths(client: Any, run_id: str, path: str | None = None) -> set[str]:
    """Every artifact file of the run, folders walked."""
    found: set[str] = set()
    for info in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, info.path) if info.is_dir else {info.path}
    return found


def test_logger_none_is_the_default_and_adds_no_callback() -> None:
    cfg = compose_config([], conf_dir=CONF_DIR)
    assert cfg.logger.kind == "none"
    assert set(cfg.hydra.callbacks) == {"sweep_report"}
    with_mlflow = compose_config(["logger=mlflow"], conf_dir=CONF_DIR)
    assert with_mlflow.hydra.callbacks.mlflow._target_ == "bnnrun.tracking.mlflow.MLflowCallback"
    assert with_mlflow.logger.tracking_uri == "sqlite:///outputs/mlflow.db"
    # The tracker is not part of what a job computed: not in a sweep's job directory names.
    swept = compose_config(["logger=tensorboard", "seed=1"], conf_dir=CONF_DIR)
    assert "logger" in swept.hydra.job.config.override_dirname.exclude_keys


def test_a_tracker_changes_no_result_and_older_runs_load_without_one(tmp_path: Path) -> None:
    from bnnrun import rundir
    from bnnrun.config import load_config, to_run_config
    from bnnrun.config.logger import MLflowLoggerConfig, NoLoggerConfig
    from bnnrun.sweep.resume import JobState, job_state

    untracked = to_run_config(without_hydra(compose_config(["debug=smoke"], conf_dir=CONF_DIR)))
    tracked = to_run_config(
        without_hydra(compose_config(["debug=smoke", "logger=mlflow"], conf_dir=CONF_DIR))
    )
    assert tracked.logger == MLflowLoggerConfig() and untracked.logger == NoLoggerConfig()
    # A sweep re-run with a logger finds the jobs it finished without one.
    rundir.write_json(tmp_path / "metrics.json", {"status": "ok", "config": asdict(untracked)})
    assert job_state(tmp_path, tracked) is JobState.DONE
    # A run recorded before the logger group existed has no logger node: it reads as none.
    saved = OmegaConf.to_container(OmegaConf.structured(untracked), enum_to_str=True)
    assert isinstance(saved, dict)
    del saved["logger"]
    OmegaConf.save(OmegaConf.create(saved), tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == untracked


def test_mlflow_logs_params_metrics_elbo_history_and_artifacts(tmp_path: Path, store: str) -> None:
    run_dir = write_run(tmp_path / "runs" / "moons" / "run1")
    cfg = job_cfg([*mlflow_overrides(store), f"inference.chunk_size={CHUNK}"], run_dir)
    callback = instantiate(cfg.hydra.callbacks.mlflow)  # as Hydra makes it
    callback.on_job_start(config=cfg)
    callback.on_job_end(config=cfg, job_return=done())

    (run,) = runs_of(store)
    client = mlflow.MlflowClient(tracking_uri=store)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "moons/run1"
    assert run.data.tags["bnnrun.run_dir"] == str(run_dir.resolve())
    assert run.data.params == expected_params(cfg)
    assert run.data.params["architecture.hidden"] == "[5, 5]"  # lists as YAML writes them
    assert run.data.metrics == pytest.approx(EXPECTED_METRICS | {"elbo": ELBO_BY_CHUNK[-1][1]})
    history = sorted(client.get_metric_history(run.info.run_id, "elbo"), key=lambda m: m.step)
    assert [m.step for m in history] == [16, 32, 40]
    assert [m.value for m in history] == pytest.approx([v for _, v in ELBO_BY_CHUNK])
    assert artifact_paths(client, run.info.run_id) == {
        "metrics.json",
        "bnnrun.log",
        "hydra/config.yaml",
        "hydra/overrides.yaml",
        "figures/elbo.png",
        "figures/images/mistakes.pdf",
    }
    # The store and its artifacts, by default: beside the SQLite file.
    exp = client.get_experiment_by_name("tests")
    assert (
        exp.artifact_location == (Path(store[len("sqlite:///") :]).parent / "mlartifacts").as_uri()
    )


@pytest.mark.parametrize(
    ("metrics", "raised", "status"),
    [
        ({"status": "failed", "error": "DataError: no such file"}, False, "failed"),
        ({"status": "diverged", "error": "ELBO is not finite at step 2"}, False, "diverged"),
        (None, True, "missing"),  # killed before metrics.json, or the job raised
        (METRICS_JSON, True, "ok"),  # files say ok, yet the job raised: not finished
    ],
)
def test_mlflow_logs_a_run_that_did_not_finish_as_failed(
    tmp_path: Path, store: str, metrics: dict[str, Any] | None, raised: bool, status: str
) -> None:
    run_dir = write_run(tmp_path / "run", metrics)
    cfg = job_cfg(mlflow_overrides(store), run_dir)
    callback = instantiate(cfg.hydra.callbacks.mlflow)
    callback.on_job_start(config=cfg)
    ret = done()
    if raised:
        ret.status = JobStatus.FAILED
    callback.on_job_end(config=cfg, job_return=ret)
    (run,) = runs_of(store)
    assert run.info.status == "FAILED"
    assert run.data.tags["bnnrun.status"] == status
    if metrics is not None and "error" in metrics:
        assert run.data.tags["bnnrun.error"] == metrics["error"]


def test_mlflow_logs_a_single_run_that_exits_early_when_its_process_exits(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed or diverged single run leaves through sys.exit, which skips on_job_end."""
    import bnnrun.tracking.common as common

    at_exit: list[Callable[[], None]] = []
    monkeypatch.setattr(common.atexit, "register", at_exit.append)
    diverged = {"status": "diverged", "error": "ELBO is not finite at step 40"}
    run_dir = write_run(tmp_path / "run", diverged)
    cfg = job_cfg([*mlflow_overrides(store), f"inference.chunk_size={CHUNK}"], run_dir)
    callback = instantiate(cfg.hydra.callbacks.mlflow)
    callback.on_job_start(config=cfg)
    assert runs_of(store) == []  # nothing yet: the job has not ended
    assert len(at_exit) == 1
    at_exit[0]()  # the process exits
    (run,) = runs_of(store)
    assert run.info.status == "FAILED" and run.data.tags["bnnrun.status"] == "diverged"
    assert len(
        mlflow.MlflowClient(tracking_uri=store).get_metric_history(run.info.run_id, "elbo")
    ) == len(ELBO_BY_CHUNK)
    at_exit[0]()  # logged once only
    assert len(runs_of(store)) == 1


def test_mlflow_sweep_is_a_parent_run_with_a_child_per_job_from_any_process(
    tmp_path: Path, store: str
) -> None:
    sweep_dir = tmp_path / "sweep"
    overrides = mlflow_overrides(store)
    master = job_cfg(overrides, sweep_dir, sweep_dir=sweep_dir)
    instantiate(master.hydra.callbacks.mlflow).on_multirun_start(config=master)
    assert json.loads((sweep_dir / "mlflow_run.json").read_text())["run_id"]

    jobs = {"seed=0": None, "seed=1": None, "seed=2": {"status": "skipped", "error": "x"}}
    for name, metrics in jobs.items():
        run_dir = write_run(sweep_dir / name, metrics or METRICS_JSON)
        cfg = job_cfg([*overrides, name], run_dir, sweep_dir=sweep_dir)
        # A new callback for each job, as in another process: it shares no memory.
        callback = instantiate(cfg.hydra.callbacks.mlflow)
        callback.on_job_start(config=cfg)
        callback.on_job_end(config=cfg, job_return=done())
    instantiate(master.hydra.callbacks.mlflow).on_multirun_end(config=master)

    runs = runs_of(store)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2  # the skipped combination is no run
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["bnnrun.sweep_dir"] == str(sweep_dir.resolve())
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.info.run_name for c in children) == ["seed=0", "seed=1"]
    assert sorted(c.data.params["seed"] for c in children) == ["0", "1"]


def test_mlflow_rerun_sweep_continues_its_parent_whose_status_follows_each_jobs_last_try(
    tmp_path: Path, store: str
) -> None:
    sweep_dir = tmp_path / "sweep"
    overrides = mlflow_overrides(store)
    master = job_cfg(overrides, sweep_dir, sweep_dir=sweep_dir)
    run_dir = sweep_dir / "seed=0"
    cfg = job_cfg([*overrides, "seed=0"], run_dir, sweep_dir=sweep_dir)
    for metrics, parent_status in (({"status": "failed", "error": "boom"}, "FAILED"),
                                   (METRICS_JSON, "FINISHED")):  # fmt: skip
        callback = instantiate(master.hydra.callbacks.mlflow)
        callback.on_multirun_start(config=master)
        shutil.rmtree(run_dir, ignore_errors=True)
        write_run(run_dir, metrics)
        callback.on_job_start(config=cfg)
        callback.on_job_end(config=cfg, job_return=done())
        callback.on_multirun_end(config=master)
        (parent,) = [r for r in runs_of(store) if "mlflow.parentRunId" not in r.data.tags]
        assert parent.info.status == parent_status
    # One parent; the job's two tries are both kept, as children of it.
    statuses = sorted(r.info.status for r in runs_of(store) if r.info.run_id != parent.info.run_id)
    assert statuses == ["FAILED", "FINISHED"]


# ---------------------------------------------------------------------------------------------
# TensorBoard


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series TensorBoard reads from the event files in ``logdir``."""
    acc = event_accumulator.EventAccumulator(str(logdir))
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


@pytest.mark.parametrize("log_dir", [None, "tb"])
def test_tensorboard_writes_the_elbo_and_the_metrics(
    tmp_path: Path, log_dir: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run_dir = write_run(tmp_path / "runs" / "run1")
    overrides = ["logger=tensorboard", f"inference.chunk_size={CHUNK}"]
    overrides += [f"logger.log_dir={log_dir}"] if log_dir else []
    cfg = job_cfg(overrides, run_dir)
    callback = instantiate(cfg.hydra.callbacks.tensorboard)
    callback.on_job_start(config=cfg)
    callback.on_job_end(config=cfg, job_return=done())

    events = run_dir / "tensorboard" if log_dir is None else tmp_path / "tb" / "runs" / "run1"
    read = scalars(events)
    assert [s for s, _ in read["elbo"]] == [s for s, _ in ELBO_BY_CHUNK]
    # Event files hold float32.
    np.testing.assert_allclose(
        [v for _, v in read["elbo"]], [v for _, v in ELBO_BY_CHUNK], rtol=1e-6
    )
    assert set(read) == {"elbo"} | {f"metrics/{k}" for k in EXPECTED_METRICS}
    for key, value in EXPECTED_METRICS.items():
        ((step, got),) = read[f"metrics/{key}"]
        assert step == ELBO[-1][0] and got == pytest.approx(value, rel=1e-6)
    # The hyperparameters' session, for the HParams dashboard, beside the run's scalars.
    session = event_accumulator.EventAccumulator(str(events / "hparams"))
    session.Reload()
    content = session.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    hp = {k: json_format.MessageToDict(v) for k, v in start.hparams.items()}
    assert set(hp) == set(expected_params(cfg))
    assert hp["seed"] == 0 and hp["dataset.name"] == "moons"
    assert hp["dataset.standardize"] is True and hp["architecture.hidden"] == "[5, 5]"
    assert not (run_dir / "tensorboard").exists() or log_dir is None


# ---------------------------------------------------------------------------------------------
# A tracker that is not installed: one line naming the extra, exit 2, before anything runs


@pytest.mark.parametrize(
    ("hidden", "args"),
    [
        ("mlflow", ["logger=mlflow"]),
        ("mlflow", ["-m", "logger=mlflow", "seed=0,1"]),
        ("sqlalchemy", ["logger=mlflow"]),  # the SQLite store's (mlflow-skinny lacks it)
        ("tensorboardX", ["logger=tensorboard"]),
    ],
)
def test_missing_tracker_is_one_line_naming_the_extra(
    tmp_path: Path, hidden: str, args: list[str]
) -> None:
    out = tmp_path / "out"
    # sys.modules[name] = None: the module cannot be found or imported in that process.
    code = (
        f"import sys; sys.modules[{hidden!r}] = None; sys.argv = ['bnnrun', *{args!r}, "
        f"'hydra.run.dir={out}', 'hydra.sweep.dir={out}']; "
        "from bnnrun.cli.main import main; main()"
    )
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    extra = "tensorboard" if hidden == "tensorboardX" else "mlflow"
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"bnnrun: error: logger={extra} needs {hidden}, which is not installed: "
        f"pip install 'bnnrun[{extra}]' (or choose logger=none)"
    ]
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# The CLI: what real runs and sweeps log


def numbers_of(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of a ``metrics.json``, flattened by pandas; lists of numbers item by item."""
    row = pd.json_normalize({k: v for k, v in record.items() if k != "config"}, sep=".")
    out: dict[str, float] = {}
    for key, value in row.iloc[0].to_dict().items():
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            item = _plain(item)
            if isinstance(item, int | float) and not isinstance(item, bool) and item == item:
                out[key if i is None else f"{key}.{i}"] = float(item)
    return out


def saved_params(run_dir: Path) -> dict[str, str]:
    """The run's ``.hydra/config.yaml``, resolved, logger aside, flattened by pandas."""
    plain = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml"), resolve=True)
    assert isinstance(plain, dict)
    plain.pop("logger")
    row = pd.json_normalize(plain, sep=".").iloc[0].to_dict()
    return {k: v if isinstance(v, str) else json.dumps(_plain(v)) for k, v in row.items()}


def assert_logged_as_written(client: Any, run: Any, run_dir: Path) -> None:
    """The MLflow run holds what ``run_dir`` holds: config, metrics, ELBO trace, files."""
    record = json.loads((run_dir / "metrics.json").read_text())
    assert run.data.params == saved_params(run_dir)
    chunk = OmegaConf.load(run_dir / ".hydra" / "config.yaml").inference.chunk_size
    elbo = by_chunk(pd.read_csv(run_dir / "elbo.csv"), chunk)
    assert len(elbo) > 1  # the smoke runs' 200 steps in chunks of 100
    assert run.data.metrics == pytest.approx(numbers_of(record) | {"elbo": elbo[-1][1]})
    history = sorted(client.get_metric_history(run.info.run_id, "elbo"), key=lambda m: m.step)
    assert [m.step for m in history] == [s for s, _ in elbo]
    assert [m.value for m in history] == pytest.approx([v for _, v in elbo])
    figures = {f"figures/{p.name}" for p in run_dir.glob("*.png")}
    assert figures and figures | {"metrics.json"} <= artifact_paths(client, run.info.run_id)


@pytest.mark.slow
def test_cli_sweep_in_two_processes_is_a_parent_run_with_its_jobs(
    run_cli, tmp_path: Path, store: str
) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m", "debug=smoke", "seed=0,1", *mlflow_overrides(store), f"hydra.sweep.dir={sweep}",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    client = mlflow.MlflowClient(tracking_uri=store)
    runs = runs_of(store)
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(runs) == 3 and len(children) == 2
    for child in children:
        run_dir = Path(child.data.tags["bnnrun.run_dir"])
        assert run_dir.parent == sweep.resolve() and child.info.run_name == run_dir.name
        assert child.info.status == "FINISHED"
        assert_logged_as_written(client, child, run_dir)


@pytest.mark.slow
def test_cli_diverged_run_is_logged_failed(run_cli, tmp_path: Path, store: str) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "debug=smoke", "inference.optimizer.lr=1e30", "inference.num_steps=1000",
        *mlflow_overrides(store), f"hydra.run.dir={out}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    (run,) = runs_of(store)
    assert run.info.status == "FAILED" and run.data.tags["bnnrun.status"] == "diverged"
    assert run.data.tags["bnnrun.error"].startswith("ELBO is not finite at step")
    history = mlflow.MlflowClient(tracking_uri=store).get_metric_history(run.info.run_id, "elbo")
    chunk = OmegaConf.load(out / ".hydra" / "config.yaml").inference.chunk_size
    assert len(history) == len(by_chunk(pd.read_csv(out / "elbo.csv"), chunk))


@pytest.mark.slow
def test_cli_tensorboard_run_writes_its_elbo_and_metrics(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("debug=smoke", "logger=tensorboard", f"hydra.run.dir={out}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    read = scalars(out / "tensorboard")
    chunk = OmegaConf.load(out / ".hydra" / "config.yaml").inference.chunk_size
    elbo = by_chunk(pd.read_csv(out / "elbo.csv"), chunk)
    assert [s for s, _ in read["elbo"]] == [s for s, _ in elbo]
    np.testing.assert_allclose([v for _, v in read["elbo"]], [v for _, v in elbo], rtol=1e-6)
    expected = numbers_of(json.loads((out / "metrics.json").read_text()))
    assert set(read) == {"elbo"} | {f"metrics/{k}" for k in expected}
    for key, value in expected.items():
        assert read[f"metrics/{key}"][0][1] == pytest.approx(value, rel=1e-6)
