"""Many fits as one program against one fit at a time: throughput in runs per second.

Two measurements, each part in its own fresh process with an empty JAX compilation cache, so
that compilation counts as it does in a first sweep:

1. **fits** (in process): the paper's synthetic grid (moons and circles at noise 0.45, four
   priors, fixed or learned scales: 26 configurations) fitted
   - one at a time, one seed each (26 fits, ``fit_svi``), and
   - with ``--seeds`` seeds per configuration, each configuration's seeds as one program
     (``fit_svi_members``: 26 programs of ``--seeds`` members).
   Reported: wall time of each part (compilation included), fits per second, the batched
   throughput over the sequential one (goal on a GPU: >= 20x), and the batched grid's wall
   time over the one-seed grid's (goal: <= 2x).
2. **sweeps** (``--sweeps``, the CLI end to end: every run's predictive, metrics, figures and
   files included): ``bnnrun -m experiment=paper_synthetic seed=0 hydra.sweeper.batch=1``
   against the same grid over ``--seeds`` seeds, batched (the default).

``--grid small`` takes 4 of the 26 configurations (moons; normal and cauchy; fixed and
inverse-gamma scales), for a CPU, where compiling 52 programs alone takes minutes;
``--sweep-grid`` chooses the sweeps' grid apart (every run's analysis takes a second or two
of CPU, so the 10-seed paper grid's 260 runs take minutes on any machine).
Results go to ``bench/results/batched_speed-<backend>.json`` (``--out`` for another path).

Usage: ``python bench/batched_speed.py [--platform gpu] [--steps 10000] [--seeds 10]
[--grid small] [--sweeps]`` (``make bench-batched``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bnnrun.runtime import cpu_model

PRIORS = ("normal", "laplace", "cauchy", "flat")
HYPERPRIORS = ("fixed", "half_normal", "half_cauchy", "inverse_gamma")


def grid(name: str) -> list[tuple[str, ...]]:
    """The configurations' overrides: the paper's 26, or a small 4."""
    if name == "small":
        combos = itertools.product(("moons",), ("normal", "cauchy"), ("fixed", "inverse_gamma"))
    else:
        combos = itertools.product(("moons", "circles"), PRIORS, HYPERPRIORS)
    return [
        (f"dataset={d}", f"prior={p}", f"hyperprior={h}", "dataset.noise=0.45")
        for d, p, h in combos
        if not (p == "flat" and h != "fixed")  # a flat prior has no scale to learn
    ]


def fit_part(part: str, *, grid_name: str, steps: int, seeds: int, platform: str) -> dict:
    """Run one part of the fits measurement in this process; returns its timings."""
    from bnnrun.runtime import configure_jax

    configure_jax(platform=platform, cpu_threads=1 if platform == "cpu" else None,
                  compilation_cache=False)  # fmt: skip
    import jax

    import bnnrun
    from bnnrun.inference.batched import fit_svi_members
    from bnnrun.inference.program import fit_svi
    from bnnrun.pipeline.batch import fit_key

    configs = grid(grid_name)
    t0 = time.perf_counter()
    fits = 0
    elbos = []
    for overrides in configs:
        cfg = bnnrun.compose([*overrides, f"inference.num_steps={steps}"])
        data = bnnrun.load_dataset(cfg.dataset)
        built = bnnrun.build_model(cfg, data)
        common = dict(num_steps=steps, chunk_size=cfg.inference.chunk_size)
        if part == "sequential":
            f = fit_svi(
                built.program, data.x_train, data.y_train, built.hp, key=fit_key(0), **common
            )
            elbos.append(float(f.elbo[-1]))
            fits += 1
        else:
            members = fit_svi_members(
                built.program, data.x_train, data.y_train, [built.hp] * seeds,
                keys=[fit_key(s) for s in range(seeds)], **common,
            )  # fmt: skip
            elbos.append(float(members[0].elbo[-1]))
            fits += len(members)
        print(f"{part}: {' '.join(overrides[:3])} at {time.perf_counter() - t0:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip
    wall = time.perf_counter() - t0
    return {"part": part, "fits": fits, "programs": len(configs), "wall_seconds": wall,
            "fits_per_second": fits / wall, "backend": jax.default_backend(),
            "device": str(jax.devices()[0]), "elbo_last_seed0": elbos}  # fmt: skip


def run_fit_part(part: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--grid", args.grid, "--steps",
           str(args.steps), "--seeds", str(args.seeds), "--platform", args.platform]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)  # progress: stderr
    if proc.returncode != 0:
        sys.exit(f"part {part} failed")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{part}: {result['fits']} fits in {result['wall_seconds']:.1f} s", flush=True)
    return result


def run_sweep(extra: list[str], args: argparse.Namespace) -> dict:
    """Wall time of one CLI sweep, cold compilation cache."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BNNRUN_CACHE_DIR": tmp, "PYTHONHASHSEED": "0"}
        platform = [] if args.platform == "cpu" else [f"runtime.platform={args.platform}"]
        cmd = [sys.executable, "-m", "bnnrun", "-m", "experiment=paper_synthetic",
               f"inference.num_steps={args.steps}", f"hydra.sweep.dir={tmp}/sweep",
               *platform, *extra]  # fmt: skip
        if (args.sweep_grid or args.grid) == "small":
            cmd += ["dataset=moons", "prior=normal,cauchy", "hyperprior=fixed,inverse_gamma"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        print(f"sweep {' '.join(extra)}: {wall:.1f} s", flush=True)
        if proc.returncode != 0:
            sys.exit(
                f"sweep failed ({' '.join(extra)}):\n{proc.stderr[-3000:]}\n{proc.stdout[-3000:]}"
            )
        runs = len(list(Path(tmp, "sweep").glob("*/metrics.json")))
    return {"overrides": extra, "runs": runs, "wall_seconds": wall, "runs_per_second": runs / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", default="cpu")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--grid", choices=("paper", "small"), default="paper")
    ap.add_argument("--sweep-grid", choices=("paper", "small"), help="default: --grid")
    ap.add_argument("--sweeps", action="store_true", help="also time CLI sweeps end to end")
    ap.add_argument("--part", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.part:
        kw = dict(grid_name=args.grid, steps=args.steps, seeds=args.seeds, platform=args.platform)
        print(json.dumps(fit_part(args.part, **kw)))
        return
    t0 = time.perf_counter()
    seq = run_fit_part("sequential", args)
    bat = run_fit_part("batched", args)
    result = {
        "benchmark": "batched_speed",
        "what": f"SVI fits of the paper's synthetic grid ({args.grid}), {args.steps} steps each; "
        f"one seed one fit at a time, against {args.seeds} seeds per configuration as one "
        "program; each part in a fresh process, compilation included",
        "backend": seq["backend"],
        "device": seq["device"],
        "machine": cpu_model(),
        "load_average": os.getloadavg(),
        "versions": {p: importlib.metadata.version(p) for p in ("jax", "numpyro")},
        "fits": {
            "sequential": seq,
            "batched": bat,
            "throughput_ratio": bat["fits_per_second"] / seq["fits_per_second"],
            "batched_grid_over_one_seed_grid": bat["wall_seconds"] / seq["wall_seconds"],
        },
    }
    out = args.out or Path(__file__).parent / "results" / f"batched_speed-{seq['backend']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")  # the fits' results, should a sweep fail
    if args.sweeps:
        one = run_sweep(["seed=0", "hydra.sweeper.batch=1"], args)
        many = run_sweep([f"seed=range({args.seeds})"], args)
        result["sweeps"] = {
            "one_seed_job_by_job": one,
            "seeds_batched": many,
            "throughput_ratio": many["runs_per_second"] / one["runs_per_second"],
            "batched_grid_over_one_seed_grid": many["wall_seconds"] / one["wall_seconds"],
        }
    result["bench_seconds"] = time.perf_counter() - t0
    out.write_text(json.dumps(result, indent=2) + "\n")
    f = result["fits"]
    print(f"fits: {seq['fits']} one at a time {seq['wall_seconds']:.1f} s; {bat['fits']} batched "
          f"{bat['wall_seconds']:.1f} s; throughput x{f['throughput_ratio']:.1f}; batched grid / "
          f"one-seed grid {f['batched_grid_over_one_seed_grid']:.2f}")  # fmt: skip
    if args.sweeps:
        s = result["sweeps"]
        print(f"sweeps: {one['runs']} runs job by job {one['wall_seconds']:.1f} s; {many['runs']} "
              f"batched {many['wall_seconds']:.1f} s; throughput x{s['throughput_ratio']:.1f}; "
              f"ratio of walls {s['batched_grid_over_one_seed_grid']:.2f}")  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
