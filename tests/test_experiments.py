"""Every named experiment (``conf/experiment/*.yaml``) runs end to end through the CLI, shrunk to
a few steps on a few inputs: a new experiment file is covered without editing this test.

Single runs must finish ``ok``. Sweeps (an experiment with ``hydra.sweeper.params``) run with
``-m``, their repetitions narrowed (one seed, two data splits); every job must finish ``ok``
and ``summary.csv`` must hold one row per possible combination. A transfer experiment's
pretraining runs for real, in its own process, before the jobs. Data sets read from files get
tiny files in their published formats (MNIST's IDX, the UCI benchmark's text files), except
Fashion-MNIST, read from Debian's package.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_config
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from test_image_data import write_mnist_files

from bnnrun.config.compose import CONF_DIR, compose_config, without_hydra
from bnnrun.errors import InvalidCombination
from bnnrun.experiments.transfer import pretrain_dir
from bnnrun.sweep.summary import job_dirs

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
EXPERIMENTS = sorted(path.stem for path in (CONF_DIR / "experiment").glob("*.yaml"))
#: Swept keys that repeat an experiment (seeds, data splits): how many of their values to run.
REPEATS = {"seed": 1, "dataset.split": 2}
#: Shrinking values for the data set keys that a data set's schema has.
SMALL_DATA = {"n_samples": 60, "train_size": 50, "validation_size": 20, "test_size": 30}


def composed(experiment: str) -> DictConfig:
    """The experiment's config as Hydra composes it, ``hydra`` node included."""
    return compose_config([f"experiment={experiment}", "hydra.sweep.dir=sweep"])


def write_uci_files(folder: Path, *, rows: int = 40, splits: int = 20) -> None:
    """A data set in the UCI benchmark's format: ``data.txt`` (3 features, then the target),
    the column index files and ``splits`` random 75/25 splits of the row numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=rows)
    np.savetxt(folder / "data.txt", np.column_stack([x, y]))
    (folder / "index_features.txt").write_text("0\n1\n2\n")
    (folder / "index_target.txt").write_text("3\n")
    for i in range(splits):
        order = rng.permutation(rows)
        cut = rows * 3 // 4
        np.savetxt(folder / f"index_train_{i}.txt", order[:cut], fmt="%d")
        np.savetxt(folder / f"index_test_{i}.txt", order[cut:], fmt="%d")


def input_overrides(group: str, name: str, folder: Path) -> list[str]:
    """Write tiny input files for the data set ``name`` of config group ``group`` (dataset or
    ood) into ``folder`` and return the overrides that point the data set at them."""
    if name == "mnist":
        write_mnist_files(folder / "mnist", n_train=100, n_test=40)
        return [f"{group}.data_dir={folder / 'mnist'}"]
    if name == "uci":
        write_uci_files(folder / "uci")
        return [f"{group}.path={folder / 'uci'}"]
    return []


def data_overrides(group: str, data_cfg: object) -> list[str]:
    """Few inputs of the data set ``data_cfg`` in config group ``group`` (dataset or ood):
    each key of :data:`SMALL_DATA` its schema has (``train_size`` for ``dataset`` only)."""
    fields = {f.name for f in dataclasses.fields(data_cfg)}
    out = [
        f"{group}.{key}={value}"
        for key, value in SMALL_DATA.items()
        if key in fields and (key != "train_size" or group == "dataset")
    ]
    if "download" in fields:
        out.append(f"{group}.download=false")
    return out


def tiny(experiment: str, folder: Path) -> list[str]:
    """Overrides that shrink ``experiment`` to seconds of fitting: its model, prior, data set
    and inference method stay; data, steps, draws and figures shrink. Input files go into
    ``folder``."""
    raw = composed(experiment)
    out = [f"experiment={experiment}"]
    groups = ["dataset"] + (["ood"] if raw.get("ood") is not None else [])
    for group in groups:
        out += input_overrides(group, raw[group].name, folder)
    missing = OmegaConf.missing_keys(without_hydra(raw))
    needed = {k for k in missing if not any(o.startswith(f"{k}=") for o in out)}
    assert not needed, (
        f"experiment={experiment} needs {sorted(needed)}: teach input_overrides in "
        "tests/test_experiments.py to make tiny input files for it"
    )
    cfg = make_config(*out)
    out += data_overrides("dataset", cfg.dataset)
    if cfg.ood is not None:
        out += data_overrides("ood", cfg.ood)
    inf = cfg.inference
    if inf.method == "nuts":
        out += ["inference.num_warmup=10", "inference.num_samples=10", "inference.num_chains=1"]
    elif inf.num_epochs is None:
        out += ["inference.num_steps=20", "inference.chunk_size=10"]
    else:  # 2 steps an epoch: one MAP epoch (if the experiment warm-starts), one SVI epoch
        warm = min(inf.warm_start_epochs, 1)
        out += ["inference.num_epochs=1", f"inference.warm_start_epochs={warm}"]
        out += ["inference.batch_size=25", "inference.chunk_size=2"]
    if inf.method == "svi":
        out.append("inference.num_predictive_samples=4")
    out += ["analysis.grid_size=8", "analysis.num_images=2"]
    return [*out, "runtime.progress=false", "runtime.cpu_threads=1"]


def narrowed(params: dict[str, str]) -> list[str]:
    """Overrides that keep the first values of each repetition axis (:data:`REPEATS`)."""
    parser = OverridesParser.create()
    out = []
    for key, keep in REPEATS.items():
        if key in params:
            values = list(
                parser.parse_overrides([f"{key}={params[key]}"])[0].sweep_string_iterator()
            )
            out.append(f"{key}={','.join(values[:keep])}")
    return out


def tiny_train_size(overrides: list[str]) -> int | None:
    """Training inputs of the shrunk run: ``train_size``, or ``n_samples`` less the test
    fraction (None if the data set has neither)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    fixed = [ov.input_line for ov in parsed if not ov.is_sweep_override()]
    data = make_config(*fixed, "hydra.sweep.dir=sweep").dataset
    if getattr(data, "train_size", None) is not None:
        return data.train_size
    if hasattr(data, "n_samples") and hasattr(data, "test_fraction"):
        return data.n_samples - math.ceil(data.n_samples * data.test_fraction)
    return None


def possible_jobs(params: dict[str, str], command_line: list[str]) -> int:
    """How many jobs the grid ``params`` with the ``command_line`` overrides has (a key on both
    takes the command line's values): the product of the swept values, less the combinations
    the config refuses as impossible (a flat prior with a learned scale)."""
    parser = OverridesParser.create()

    def values(override) -> list[str]:
        return [f"{override.key_or_group}={v}" for v in override.sweep_string_iterator()]

    axes = {k: values(parser.parse_overrides([f"{k}={v}"])[0]) for k, v in params.items()}
    fixed = []
    for override in parser.parse_overrides(command_line):
        axes.pop(override.key_or_group, None)
        if override.is_sweep_override():
            axes[override.key_or_group] = values(override)
        else:
            fixed.append(override.input_line)
    count = 0
    for combination in itertools.product(*axes.values()):
        try:
            make_config(*fixed, *combination, "hydra.sweep.dir=sweep")
        except InvalidCombination:
            continue
        count += 1
    return count


def needs_fashion_mnist(experiment: str) -> bool:
    raw = composed(experiment)
    return "fashion_mnist" in (raw.dataset.name, (raw.get("ood") or {}).get("name"))


@pytest.mark.slow  # 20 s to 3 min each on 2 shared cores, most of it compiling
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_end_to_end(run_cli, tmp_path: Path, experiment: str) -> None:
    if needs_fashion_mnist(experiment) and not FASHION_MNIST.is_dir():
        pytest.skip(f"{FASHION_MNIST} is missing: install Debian's dataset-fashion-mnist")
    overrides = tiny(experiment, tmp_path / "data")
    params = dict(composed(experiment).hydra.sweeper.get("params") or {})
    if not params:
        out = tmp_path / "run"
        proc = run_cli(*overrides, f"hydra.run.dir={out}", timeout=900)
        assert proc.returncode == 0, proc.stderr
        record = json.loads((out / "metrics.json").read_text())
        assert record["status"] == "ok", record.get("error")
        assert tiny_train_size(overrides) in (None, record["num_train"])
        return

    root = tmp_path / "sweep"
    overrides += narrowed(params)
    proc = run_cli("-m", *overrides, f"hydra.sweep.dir={root}", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = possible_jobs(params, overrides)
    jobs = job_dirs(root)
    assert len(jobs) == expected
    for job in jobs:
        record = json.loads((job / "metrics.json").read_text())
        assert record["status"] == "ok", (job.name, record.get("error"))
        assert tiny_train_size(overrides) in (None, record["num_train"])
        if record["config"]["prior"]["family"] == "informed":  # centred on the pretraining
            assert record["config"]["prior"]["source"] == str(root / "pretrain")
    runs = pd.read_csv(root / "summary.csv")
    assert len(runs) == expected and set(runs["status"]) == {"ok"}
    if pretrain_dir(composed(experiment).hydra) is not None:  # a transfer experiment
        assert (proc.stdout + proc.stderr).count("pretraining into") == 1
        assert json.loads((root / "pretrain" / "metrics.json").read_text())["status"] == "ok"
        assert root / "pretrain" not in jobs


def test_every_experiment_is_covered() -> None:
    """The smoke test above finds the experiments on disk, the known ones among them, and
    counts a transfer sweep narrowed to one seed as its two priors."""
    assert {"paper_mnist", "paper_synthetic", "transfer_digits", "transfer_fmnist"} <= set(
        EXPERIMENTS
    )
    params = dict(composed("transfer_digits").hydra.sweeper.params)
    assert narrowed(params) == ["seed=0"]
    assert possible_jobs(params, ["experiment=transfer_digits", "seed=0"]) == 2
    assert possible_jobs({"seed": "0,1,2"}, ["seed=0,1"]) == 2
