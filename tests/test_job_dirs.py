"""A sweep job's directory is one path component, whatever its overrides hold: a '/' in a value
(a dataset.path) is escaped, a name over 255 bytes is cut and ends with a hash of the whole."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from bnnrun.config.compose import CONF_DIR, compose_config
from hydra_plugins.bnnrun_sweeper.bnnrun_sweeper import job_dirname


def test_a_slash_is_escaped_and_distinct_names_stay_distinct() -> None:
    assert job_dirname("dataset.path=/data/uci/yacht,seed=1") == (
        "dataset.path=%2Fdata%2Fuci%2Fyacht,seed=1"
    )
    assert job_dirname("prior=laplace,seed=1") == "prior=laplace,seed=1"  # nothing to escape
    # A literal %2F in a value is not confused with an escaped '/'.
    assert job_dirname("dataset.path=a%2Fb") == "dataset.path=a%252Fb"
    assert job_dirname("dataset.path=a%2Fb") != job_dirname("dataset.path=a/b")
    assert job_dirname("") == "defaults"  # nothing to name it by (no override, or runtime.* only)


def test_a_long_name_is_cut_to_255_bytes_and_ends_with_a_hash_of_the_whole() -> None:
    name = ",".join(f"prior.layer_scales.layer{i}=0.{i:03d}" for i in range(40))
    assert len(name.encode()) > 255
    got = job_dirname(name)
    assert len(got.encode()) == 255
    assert got == name[: 255 - 17] + "-" + hashlib.sha256(name.encode()).hexdigest()[:16]
    assert job_dirname(name) == got  # stable
    assert name.endswith("0.039")
    other = job_dirname(name[:-1] + "8")  # the same first 238 bytes
    assert other != got and other[:238] == got[:238]
    # Multi-byte characters are never split.
    wide = job_dirname("name=" + "é" * 200)
    assert len(wide.encode()) <= 255
    assert wide.encode().decode() == wide and wide.startswith("name=é")


def test_hydra_registers_the_resolver_when_it_composes() -> None:
    # In a fresh interpreter: bnnrun alone does not register it; composing makes Hydra scan its
    # plugins, which imports hydra_plugins.bnnrun_sweeper, as every bnnrun process does.
    script = (
        "from omegaconf import OmegaConf\n"
        "from bnnrun.config.compose import CONF_DIR, compose_config\n"
        "print(OmegaConf.has_resolver('bnnrun_dirname'))\n"
        "cfg = compose_config(['dataset=uci', 'dataset.path=/d/yacht'], conf_dir=CONF_DIR)\n"
        "print(OmegaConf.has_resolver('bnnrun_dirname'))\n"
        "print(cfg.hydra.sweep.subdir)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False", "True", "dataset.path=%2Fd%2Fyacht,dataset=uci"]


def test_the_sweep_config_names_job_dirs_with_the_resolver() -> None:
    cfg = compose_config(["dataset=uci", "dataset.path=a/b", "seed=2"], conf_dir=CONF_DIR)
    assert cfg.hydra.sweep.subdir == "dataset.path=a%2Fb,dataset=uci,seed=2"
    # A long override set: Hydra's name would pass 255 bytes; the directory's does not.
    many = [f"dataset.path={'/deep' * 30}/yacht", "dataset=uci", "inference.num_steps=1000"]
    many += ["prior=laplace", "prior.scale=0.3", "seed=12345", "likelihood=student_t"]
    cfg = compose_config(many, conf_dir=CONF_DIR)
    full = cfg.hydra.job.override_dirname
    assert len(full.encode()) > 255
    subdir = cfg.hydra.sweep.subdir
    assert len(subdir.encode()) == 255 and "/" not in subdir
    assert subdir.endswith(hashlib.sha256(full.replace("/", "%2F").encode()).hexdigest()[:16])


def _uci_dir(root: Path) -> Path:
    """A data set in the UCI benchmark's format: 60 rows, 2 features, one split."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    x = rng.normal(size=(60, 2))
    y = x @ np.array([1.0, -0.5]) + 0.2 * rng.normal(size=60)
    np.savetxt(root / "data.txt", np.column_stack([x, y]))
    np.savetxt(root / "index_features.txt", [0, 1], fmt="%d")
    np.savetxt(root / "index_target.txt", [2], fmt="%d")
    perm = rng.permutation(60)
    np.savetxt(root / "index_train_0.txt", perm[:54], fmt="%d")
    np.savetxt(root / "index_test_0.txt", perm[54:], fmt="%d")
    return root


@pytest.mark.slow  # two short UCI runs, twice, through the CLI (~30 s on 2 shared cores)
def test_a_sweep_over_paths_makes_flat_job_dirs_that_resume_and_summary_find(
    run_cli, tmp_path: Path
) -> None:
    paths = [_uci_dir(tmp_path / "data" / name) for name in ("yacht", "boston")]
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "experiment=uci",
        f"dataset.path={paths[0]},{paths[1]}",
        "dataset.split=0",
        "inference.num_steps=100",
        "inference.num_predictive_samples=20",
        f"hydra.sweep.dir={sweep}",
    ]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir())
    # One component each, straight under the sweep, named by the one override that varies.
    expected = sorted(f"dataset.path={str(p).replace('/', '%2F')}" for p in paths)
    assert [p.name for p in jobs] == expected
    for job in jobs:
        assert json.loads((job / "metrics.json").read_text())["status"] == "ok"
    runs = pd.read_csv(sweep / "summary.csv")
    assert sorted(runs["dataset.path"]) == sorted(str(p) for p in paths)
    again = run_cli(*args)  # bnnrun.sweep.resume finds both finished jobs
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 to run, 2 already finished (skipped)" in again.stdout + again.stderr
