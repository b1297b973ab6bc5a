"""Shared fixtures: config composition through Hydra's compose API, and the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnnrun.app import CONF_DIR
from bnnrun.config import Config, to_run_config
from bnnrun.precheck import compose_config, without_hydra

REPO = Path(__file__).resolve().parents[1]


def make_config(*overrides: str) -> Config:
    """The validated config ``bnnrun <overrides>`` would run."""
    return to_run_config(without_hydra(compose_config(list(overrides), conf_dir=CONF_DIR)))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One JAX compilation cache for the whole session, so CLI tests compile each program once."""
    return tmp_path_factory.mktemp("bnnrun-cache")


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
