"""bnnrun works from an installed wheel: conf/ travels inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_installed_wheel_runs_with_its_own_conf(tmp_path: Path, cache_dir: Path) -> None:
    dist, site = tmp_path / "dist", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("bnnrun-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    env = {**os.environ, "PYTHONPATH": str(site), "BNNRUN_CACHE_DIR": str(cache_dir)}
    where = subprocess.run(
        [sys.executable, "-c", "import bnnrun.config.compose as c; print(c.CONF_DIR)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where) == site / "bnnrun" / "conf"
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "bnnrun", "debug=smoke", f"hydra.run.dir={out}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "metrics.json").is_file()
    helped = subprocess.run(
        [sys.executable, "-m", "bnnrun", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "prior: cauchy, flat, laplace, normal, student_t" in helped.stdout
