"""Shared fixtures: config composition through Hydra's compose API, and the CLI in a subprocess."""

from __future__ import annotations

import atexit
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from bnnrun.config import Config, to_run_config
from bnnrun.config.compose import CONF_DIR, compose_config, without_hydra
from bnnrun.runtime import configure_jax

REPO = Path(__file__).resolve().parents[1]

# One persistent compilation cache for the whole session, shared by the tests in this process,
# every pytest-xdist worker (they inherit the variable) and every CLI subprocess: each program
# compiles once. (Makefile runs pytest with PYTHONHASHSEED=0, as the CLI does, so all of them
# trace identical programs.)
_SESSION_CACHE = "BNNRUN_TEST_SESSION_CACHE"
if _SESSION_CACHE not in os.environ:
    os.environ[_SESSION_CACHE] = tempfile.mkdtemp(prefix="bnnrun-test-cache-")
    atexit.register(shutil.rmtree, os.environ[_SESSION_CACHE], ignore_errors=True)
CACHE_DIR = Path(os.environ[_SESSION_CACHE])
os.environ["BNNRUN_CACHE_DIR"] = str(CACHE_DIR)
configure_jax(compilation_cache=True)


def make_config(*overrides: str) -> Config:
    """The validated config ``bnnrun <overrides>`` would run."""
    return to_run_config(without_hydra(compose_config(list(overrides), conf_dir=CONF_DIR)))


def run_predictive(run: Any, x: np.ndarray | None = None) -> np.ndarray:
    """The predictive ``[S, N, C]`` at ``x`` (default: the test inputs) from the draws a run's
    pipeline took: ``run.default_num_draws`` of them, with the key ``execute`` uses for the
    predictive, ``jax.random.split(PRNGKey(seed))[1]``."""
    key = jax.random.split(jax.random.PRNGKey(run.cfg.seed))[1]
    draws = run.draws(key=key, num_samples=run.default_num_draws)
    return run.probs(draws, run.data.x_test if x is None else x)


def recorded_draws(run_dir: Path) -> dict[str, np.ndarray]:
    """The posterior draws an SVI run's pipeline predicted with, ``{site: [S, *shape]}``, as
    its ``posterior.nc`` holds them (one chain)."""
    import arviz as az

    posterior = az.from_netcdf(run_dir / "posterior.nc").posterior
    assert posterior.sizes["chain"] == 1
    return {k: posterior[k].values[0] for k in posterior.data_vars}


def hand_metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy, NLL, (multiclass) Brier score and ECE (15 bins) of the predictive mean of
    ``probs`` ``[S, N, C]``, from their definitions in NumPy (independent of
    :mod:`bnnrun.analysis.metrics`)."""
    mean = probs.astype(np.float64).mean(axis=0)
    mean /= mean.sum(axis=-1, keepdims=True)
    rows = np.arange(len(y))
    correct = mean.argmax(axis=-1) == y
    # ECE: 15 equal-width bins of the top-class confidence, (k/15, (k+1)/15] each.
    confidence = mean.max(axis=-1)
    bins = np.clip(np.ceil(confidence * 15).astype(int) - 1, 0, 14)
    ece = sum(
        (bins == b).mean() * abs(correct[bins == b].mean() - confidence[bins == b].mean())
        for b in np.unique(bins)
    )
    return {
        "accuracy": float(correct.mean()),
        "nll": float(-np.log(mean[rows, y]).mean()),
        "brier": float(((mean - np.eye(mean.shape[-1])[y]) ** 2).sum(axis=-1).mean()),
        "ece": float(ece),
    }


def hand_auroc(score_in: np.ndarray, score_out: np.ndarray) -> float:
    """P(an out-of-distribution score exceeds an in-distribution one), ties counting half:
    the AUROC by counting pairs."""
    diff = np.asarray(score_out)[:, None] - np.asarray(score_in)[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The session's JAX compilation cache (``BNNRUN_CACHE_DIR`` of every CLI subprocess)."""
    return CACHE_DIR


@pytest.fixture
def run_cli(cache_dir: Path):
    """Run ``bnnrun ARGS`` in a subprocess; returns the CompletedProcess."""

    def run(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir), **(env or {})}
        full_env.pop("HYDRA_FULL_ERROR", None)
        if env and "HYDRA_FULL_ERROR" in env:
            full_env["HYDRA_FULL_ERROR"] = env["HYDRA_FULL_ERROR"]
        return subprocess.run(
            [sys.executable, "-m", "bnnrun", *args],
            cwd=cwd or REPO,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


#: The user a root test process becomes to meet permissions (``nobody`` on Debian).
NOBODY = 65534


@pytest.fixture
def open_tmp() -> Any:
    """A temporary folder that every user can enter (pytest's own are root's alone), removed
    afterwards: for :func:`unprivileged` to work in."""
    folder = Path(tempfile.mkdtemp(prefix="bnnrun-open-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def unprivileged(fn: Any) -> Any:
    """``fn()`` as a user whom permissions bind: in this process, unless it is root, which
    writes into read-only folders; then in a forked child that has become ``nobody``. Returns
    what ``fn`` returns (picklable); an exception in the child is raised here as an
    AssertionError naming its type and message."""
    if os.geteuid() != 0:
        return fn()
    read, write = os.pipe()
    with warnings.catch_warnings():  # JAX's threads: the child only touches files, in Python
        warnings.simplefilter("ignore", RuntimeWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            try:
                out: tuple[str, Any] = ("returned", fn())
            except BaseException as exc:
                out = ("raised", f"{type(exc).__name__}: {exc}")
            with os.fdopen(write, "wb") as pipe:
                pipe.write(pickle.dumps(out))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    assert data, "the unprivileged child died before it answered"
    kind, value = pickle.loads(data)
    if kind == "raised":
        raise AssertionError(value)
    return value
