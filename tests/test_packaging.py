"""bnnrun works from an installed wheel: conf/ travels inside the package, the console scripts
it declares run, and ``bnnrun --help`` lists every option of every config group it carries."""

from __future__ import annotations

import configparser
import json
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
    assert json.loads((out / "metrics.json").read_text())["status"] == "ok"
    # The console scripts the wheel declares, each run from the wheel's own files.
    (entry_points,) = site.glob("bnnrun-*.dist-info/entry_points.txt")
    scripts = configparser.ConfigParser()
    scripts.read_string(entry_points.read_text())
    assert dict(scripts["console_scripts"]) == {
        "bnnrun": "bnnrun.cli.main:main",
        "bnnrun-compare": "bnnrun.cli.compare:main",
        "bnnrun-report": "bnnrun.cli.report:main",
    }
    help_text = ""
    for name in scripts["console_scripts"]:
        helped = subprocess.run(
            [str(site / "bin" / name), "--help"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert helped.returncode == 0, (name, helped.stderr)
        assert name in helped.stdout, name
        if name == "bnnrun":
            help_text = helped.stdout
    # `bnnrun --help` lists every option of every config group the wheel carries.
    conf = site / "bnnrun" / "conf"
    groups = sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "hydra")
    assert {"dataset", "architecture", "prior", "hyperprior", "inference", "experiment"} <= set(
        groups
    )
    # Groups picked by another choice (dataset=, experiment=) are how bnnrun is put together,
    # not choices for a user, so --help leaves them out.
    internal = {"dataset_defaults", "experiment_prior", "experiment_inference"}
    assert internal <= set(groups)
    for group in groups:
        options = ", ".join(sorted(p.stem for p in (conf / group).glob("*.yaml")))
        if group in internal:
            assert f"{group}:" not in help_text, group
        else:
            assert f"{group}: {options}\n" in help_text, group
    assert "prior: cauchy, flat, informed, laplace, normal, student_t\n" in help_text
