"""Speed of the UCI regression benchmark: the SVI step of its network, and a whole 20-split sweep.

(a) In one process, on a synthetic data set in the UCI format with 8 features and 500, then
    1000 training rows (full batch), the UCI network (8 -> 50 ReLU -> 1, ``experiment=uci``:
    Gaussian likelihood with a learned noise under a Gamma prior on its precision):

    - ``deterministic``: an optax Adam step on the mean squared error of a plain network of the
      same shape, in the same chunked ``lax.scan`` loop bnnrun uses;
    - ``bnnrun``: bnnrun's own SVI program for the config (``build`` and ``fit_svi``, as a run
      uses them: AutoNormal, Trace_ELBO, Adam);
    - ``bnnrun-map``: the same program with ``inference.guide=delta`` (MAP: a point per
      weight, nothing sampled), a diagnostic: bnnrun's and NumPyro's machinery without the
      variational noise, so the gap to ``bnnrun`` is what sampling the weights costs.

    Each runs ``--repeats`` times, interleaved, after its compilation; the report gives the
    median steps per second and the SVI step's time over the deterministic one's (target:
    at most 1.5), so noise from a shared machine mostly cancels.

(b) The wall time of ``bnnrun -m experiment=uci dataset.path=DIR 'dataset.split=range(20)'``
    (20 runs of the steps ``experiment=uci`` sets, 20,000, unless ``--sweep-steps`` says
    otherwise) on a synthetic UCI-format directory of 600 rows and 8 features that the bench
    writes, in a subprocess with an empty JAX compilation cache, split by stage from the runs'
    own ``metrics.json`` timings.

Results go to ``bench/results/uci_speed-<backend>.json``.

Usage: ``python bench/uci_speed.py [--steps 10000] [--repeats 5] [--threads 1]
[--sweep-steps N] [--no-sweep]`` (``make bench-uci``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bnnrun.runtime import configure_jax, cpu_model

TARGET_RATIO = 1.5
FEATURES = 8
#: Training rows of the step benchmark (the issue: 500 to 1000 rows, full batch).
TRAIN_ROWS = (500, 1000)
#: Rows and splits of the sweep's data set (90/10 splits, as the published ones).
SWEEP_ROWS, SWEEP_SPLITS = 600, 20


def write_uci(root: Path, *, rows: int, splits: int, train: int, seed: int = 0) -> Path:
    """A data set in the UCI benchmark's format: ``rows`` rows of ``FEATURES`` standard normal
    features and a smooth nonlinear target with noise; ``splits`` random splits of ``train``
    training rows and the rest for testing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES))
    w = rng.normal(size=FEATURES)
    y = np.sin(x @ w / np.sqrt(FEATURES)) + 0.3 * x[:, 0] * x[:, 1] + 0.1 * rng.normal(size=rows)
    root.mkdir(parents=True, exist_ok=True)
    np.savetxt(root / "data.txt", np.column_stack([x, y]))
    np.savetxt(root / "index_features.txt", np.arange(FEATURES), fmt="%d")
    np.savetxt(root / "index_target.txt", [FEATURES], fmt="%d")
    for i in range(splits):
        perm = rng.permutation(rows)
        np.savetxt(root / f"index_train_{i}.txt", np.sort(perm[:train]), fmt="%d")
        np.savetxt(root / f"index_test_{i}.txt", np.sort(perm[train:]), fmt="%d")
    return root


def step_speed(data_dir: Path, *, steps: int, repeats: int) -> dict:
    """Steps per second of bnnrun's SVI step and of the deterministic step, interleaved."""
    import jax.numpy as jnp
    from baseline import deterministic_rate, svi_rate

    from bnnrun.config import to_run_config
    from bnnrun.config.compose import CONF_DIR, compose_config, without_hydra
    from bnnrun.data import load_dataset
    from bnnrun.model.nets import num_params
    from bnnrun.pipeline.build import build

    overrides = ["experiment=uci", f"dataset.path={data_dir}", "runtime.progress=false"]
    cfg = to_run_config(without_hydra(compose_config(overrides, conf_dir=CONF_DIR)))
    data = load_dataset(cfg.dataset)
    net, _, hp, program = build(cfg, data)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    chunk = cfg.inference.chunk_size
    steps -= steps % chunk

    def loss_fn(params):
        return jnp.mean((net.apply(params, x)[:, 0] - y) ** 2)

    lr = cfg.inference.optimizer.lr
    run_deterministic = deterministic_rate(net, loss_fn, lr=lr, chunk=chunk, steps=steps)
    run_bnnrun = svi_rate(program, x, y, hp, chunk=chunk, steps=steps)

    map_cfg = to_run_config(
        without_hydra(compose_config([*overrides, "inference.guide=delta"], conf_dir=CONF_DIR))
    )
    map_program = build(map_cfg, data).program

    run_map = svi_rate(map_program, x, y, hp, chunk=chunk, steps=steps)

    variants: dict[str, Callable[[], float]] = {
        "deterministic": run_deterministic,
        "bnnrun": run_bnnrun,
        "bnnrun-map": run_map,
    }
    run_bnnrun()  # compile
    run_map()
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            rates[name].append(fn())
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "train_rows": len(data.y_train),
        "num_params": num_params(net),
        "steps_per_repeat": steps,
        "steps_per_second": {k: round(v, 1) for k, v in med.items()},
        "us_per_step": {k: round(1e6 / v, 2) for k, v in med.items()},
        "ratio": round(med["deterministic"] / med["bnnrun"], 3),
        "slowdown_vs_deterministic": {
            k: round(med["deterministic"] / v, 3) for k, v in med.items()
        },
        "all_steps_per_second": {k: [round(r, 1) for r in v] for k, v in rates.items()},
    }


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sweep_time(root: Path, *, steps: int | None) -> dict:
    """Wall time of the whole 20-split sweep in a subprocess, cold compilation cache."""
    import pandas as pd

    data_dir = write_uci(
        root / "data", rows=SWEEP_ROWS, splits=SWEEP_SPLITS, train=SWEEP_ROWS * 9 // 10, seed=1
    )
    sweep_dir = root / "sweep"
    command = [
        "bnnrun",
        "-m",
        "experiment=uci",
        f"dataset.path={data_dir}",
        f"dataset.split=range({SWEEP_SPLITS})",
        *([] if steps is None else [f"inference.num_steps={steps}"]),
        f"hydra.sweep.dir={sweep_dir}",
    ]
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(root / "cache"), "PYTHONHASHSEED": "0"}
    cpu0, t0 = children_cpu_seconds(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bnnrun", *command[1:]], env=env, capture_output=True, text=True
    )
    wall, cpu = time.perf_counter() - t0, children_cpu_seconds() - cpu0
    if proc.returncode != 0:
        sys.exit(f"the sweep failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    runs = pd.read_csv(sweep_dir / "summary.csv")
    if len(runs) != SWEEP_SPLITS or set(runs["status"]) != {"ok"}:
        sys.exit(f"the sweep did not finish {SWEEP_SPLITS} runs:\n{runs[['status']]}")
    fit, predict, total = (runs[f"{k}_seconds"].sum() for k in ("fit", "predict", "total"))
    init, compile_ = runs["init_seconds"].sum(), runs["compile_seconds"].sum()
    stages = {
        "init": init,
        "compile": compile_,
        "steps": fit - init - compile_,
        "predict": predict,
        "plots+files": total - fit - predict,
        "outside runs": wall - total,
    }
    return {
        "command": " ".join([*command[:3], "dataset.path=DIR", *command[4:-1]]),
        "data": f"{SWEEP_ROWS} rows, {FEATURES} features, {SWEEP_SPLITS} splits of "
        f"{SWEEP_ROWS * 9 // 10} training rows (written by the bench)",
        "num_steps": int(runs["num_steps"].iloc[0]),
        "runs": len(runs),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "seconds_per_run": round(wall / len(runs), 2),
        "seconds_by_stage": {k: round(float(v), 2) for k, v in stages.items()},
        "rmse_mean": round(float(runs["rmse"].mean()), 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10_000, help="SVI steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="XLA CPU threads (0: all cores)")
    p.add_argument("--platform", default=None, help="cpu, gpu or tpu (default: JAX's choice)")
    p.add_argument(
        "--sweep-steps", type=int, default=None, help="SVI steps of each sweep run (default: 20000)"
    )
    p.add_argument("--no-sweep", action="store_true", help="only the step benchmark")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    backend = configure_jax(
        platform=args.platform, cpu_threads=args.threads or None, compilation_cache=False
    )
    import jax

    load_before = os.getloadavg()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average {load_before}")
    result: dict = {
        "benchmark": "uci_speed",
        "command": " ".join(["python bench/uci_speed.py", *sys.argv[1:]]),
        "network": f"{FEATURES} -> 50 ReLU -> 1, gaussian likelihood (learned noise), full batch",
        "backend": backend,
        "device": str(jax.devices()[0]),
        "cpu_threads": args.threads or "all",
        "target_ratio": TARGET_RATIO,
        "repeats": args.repeats,
    }
    with tempfile.TemporaryDirectory(prefix="bnnrun-bench-uci-") as tmp:
        root = Path(tmp)
        steps = {}
        print(f"{'rows':>5} {'variant':<26} {'steps/s':>10} {'us/step':>9}")
        for rows in TRAIN_ROWS:
            data_dir = write_uci(root / f"rows{rows}", rows=rows + 100, splits=1, train=rows)
            r = steps[str(rows)] = step_speed(data_dir, steps=args.steps, repeats=args.repeats)
            for k, v in r["steps_per_second"].items():
                print(f"{rows:>5} {k:<26} {v:>10.0f} {r['us_per_step'][k]:>9.1f}")
            met = "met" if r["ratio"] <= TARGET_RATIO else "not met"
            print(f"{rows:>5} SVI / deterministic step time: {r['ratio']:.2f} "
                  f"(target <= {TARGET_RATIO}: {met})")  # fmt: skip
        result["step"] = steps
        if not args.no_sweep:
            sweep = result["sweep"] = sweep_time(root, steps=args.sweep_steps)
            wall, each = sweep["wall_seconds"], sweep["seconds_per_run"]
            print(f"20-split sweep ({sweep['num_steps']} steps a run): {wall:.1f} s wall, "
                  f"{each:.1f} s a run")  # fmt: skip
            for name, seconds in sweep["seconds_by_stage"].items():
                print(f"  {name:>13}: {seconds:6.1f} s")
    load_after = os.getloadavg()
    result["machine"] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "niceness": os.nice(0),  # run under `nice` on a shared machine
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    result["versions"] = {
        "bnnrun": importlib.metadata.version("bnnrun"),
        "jax": jax.__version__,
        "python": sys.version.split()[0],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"uci_speed-{backend}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
