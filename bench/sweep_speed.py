"""How long the paper's synthetic grid takes end to end, and where the time goes.

Runs ``bnnrun -m experiment=paper_synthetic seed=0`` (26 runs of 50,000 SVI steps and 500
predictive samples each; the default launcher, one XLA thread) in a subprocess, first with an
empty JAX compilation cache (a first sweep on a fresh machine), then again with the cache that
run filled (any later sweep). It prints the wall time of each against the 5-minute target and
splits the cold run's time by stage, from the runs' own ``metrics.json`` timings:

- init: SVI's initialisation, its compilation included; compile: compiling the SVI step;
- steps: executing the 50,000 SVI steps; predict: posterior draws and predictive probabilities;
- plots+files: each run's figures and files; outside runs: process start, planning the grid
  and the sweep's summary, figures and report.

Results go to ``bench/results/sweep_speed-<backend>.json`` (``--out`` for another folder).

Usage: ``python bench/sweep_speed.py [--no-warm] [extra bnnrun overrides ...]``
(``make bench-sweep``). Timings on a shared machine vary; the load average is recorded.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bnnrun.runtime import cpu_model

TARGET_SECONDS = 300.0
GRID = ["-m", "experiment=paper_synthetic", "seed=0"]


def cpu_seconds() -> float:
    """User + system time of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_sweep(sweep_dir: Path, cache_dir: Path, extra: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one sweep."""
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir), "PYTHONHASHSEED": "0"}
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bnnrun", *GRID, f"hydra.sweep.dir={sweep_dir}", *extra],
        env=env,
        capture_output=True,
        text=True,
    )
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if proc.returncode != 0:
        sys.exit(f"the sweep failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, cpu


def breakdown(sweep_dir: Path, wall: float) -> dict[str, float]:
    runs = pd.read_csv(sweep_dir / "summary.csv")
    init = runs["init_seconds"].sum()
    compile_ = runs["compile_seconds"].sum()
    fit = runs["fit_seconds"].sum()
    predict = runs["predict_seconds"].sum()
    total = runs["total_seconds"].sum()
    return {
        "runs": len(runs),
        "init": init,
        "compile": compile_,
        "steps": fit - init - compile_,
        "predict": predict,
        "plots+files": total - fit - predict,
        "outside runs": wall - total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-warm", action="store_true", help="skip the warm-cache sweep")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("overrides", nargs="*", help="extra bnnrun overrides")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average {load_before}")
    result: dict = {
        "benchmark": "sweep_speed",
        "command": "python bench/sweep_speed.py " + " ".join(sys.argv[1:]),
        "grid": " ".join([*GRID, *args.overrides]),
        "target_seconds": TARGET_SECONDS,
    }
    with tempfile.TemporaryDirectory(prefix="bnnrun-bench-") as tmp:
        root, cache = Path(tmp), Path(tmp) / "cache"
        cold, cold_cpu = run_sweep(root / "cold", cache, args.overrides)
        parts = breakdown(root / "cold", cold)
        runs = parts.pop("runs")
        backend = backend_of(root / "cold")
        ratio = cold / TARGET_SECONDS
        print(f"cold cache: {cold:6.1f} s wall ({cold_cpu:.1f} s CPU) for {runs} runs")
        print(f"            = {ratio:.2f} x the {TARGET_SECONDS:.0f} s target")
        for name, seconds in parts.items():
            print(f"  {name:>13}: {seconds:6.1f} s  ({seconds / cold:5.1%})")
        result["runs"] = int(runs)
        result["cold"] = {
            "wall_seconds": round(cold, 2),
            "cpu_seconds": round(cold_cpu, 2),
            "x_target": round(ratio, 3),
            "seconds_by_stage": {k: round(float(v), 2) for k, v in parts.items()},
        }
        if not args.no_warm:
            warm, warm_cpu = run_sweep(root / "warm", cache, args.overrides)
            print(f"warm cache: {warm:6.1f} s wall ({warm_cpu:.1f} s CPU)")
            print(f"            = {warm / TARGET_SECONDS:.2f} x the target, "
                  f"{warm / cold:.2f} x the cold sweep")  # fmt: skip
            result["warm"] = {
                "wall_seconds": round(warm, 2),
                "cpu_seconds": round(warm_cpu, 2),
                "x_target": round(warm / TARGET_SECONDS, 3),
                "x_cold": round(warm / cold, 3),
            }
    load_after = os.getloadavg()
    print(f"load average after: {load_after}")
    result["machine"] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    result["versions"] = {
        "bnnrun": importlib.metadata.version("bnnrun"),
        "jax": importlib.metadata.version("jax"),
        "python": sys.version.split()[0],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"sweep_speed-{backend}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def backend_of(sweep_dir: Path) -> str:
    """The backend the sweep's runs recorded (``cpu``, ``gpu``, ...)."""
    runs = pd.read_csv(sweep_dir / "summary.csv")
    if "backend" in runs and runs["backend"].notna().any():
        return str(runs["backend"].dropna().iloc[0])
    return "cpu"


if __name__ == "__main__":
    main()
