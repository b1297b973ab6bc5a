"""Shared fixtures: config composition through Hydra's compose API, and the CLI in a subprocess."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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
