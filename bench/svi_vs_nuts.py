"""How close do the variational posteriors come to the NUTS reference on moons?

Runs the paper's moons setup (2-5-5-2 tanh net, normal(0, 1) prior, 700 training points) with
NUTS (the reference, 4 chains x 1000 draws) and with SVI under each guide, then compares each
run's posterior predictive with the reference's by ``bnnrun-compare`` on the test inputs and on
the 100 x 100 grid of the uncertainty maps. A second NUTS run with another seed shows the
Monte Carlo noise floor of the comparison. It also times NUTS's two chain methods, the ratio
behind ``chain_method: vectorized`` as the default.

    python bench/svi_vs_nuts.py [--out DIR] [--results FILE]

Takes several minutes on 2 CPU cores. Results: ``bench/results/svi_vs_nuts-<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bnnrun.runtime import cpu_model

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

RUNS = {
    "nuts": ["inference=nuts"],
    "nuts_seed1": ["inference=nuts", "seed=1"],
    "svi_normal": ["inference.guide=normal"],
    "svi_lowrank": ["inference.guide=lowrank"],
    "svi_mvn": ["inference.guide=mvn"],
    "svi_delta": ["inference.guide=delta"],
}


def run(name: str, overrides: list[str], out: Path) -> dict:
    run_dir = out / name
    if not (run_dir / "metrics.json").exists():
        cmd = [sys.executable, "-m", "bnnrun", *overrides, "runtime.progress=false"]
        subprocess.run([*cmd, f"hydra.run.dir={run_dir}"], cwd=REPO, check=True)
    return json.loads((run_dir / "metrics.json").read_text())


def time_chain_methods(repeats: int = 2) -> dict[str, list[float]]:
    """Seconds of NUTS (4 chains, 300 + 300 steps, compilation included) by chain method,
    alternating the methods ``repeats`` times so that both see the same machine load."""
    sys.path.insert(0, str(REPO / "tests"))
    import jax
    from conftest import make_config

    from bnnrun.data import load_dataset
    from bnnrun.inference.mcmc import fit_nuts
    from bnnrun.pipeline.build import build

    seconds: dict[str, list[float]] = {"vectorized": [], "sequential": []}
    for _ in range(repeats):
        for method, times in seconds.items():
            cfg = make_config(
                "inference=nuts",
                "inference.num_warmup=300",
                "inference.num_samples=300",
                f"inference.chain_method={method}",
            )
            data = load_dataset(cfg.dataset)
            _, model, hp, _ = build(cfg, data)
            t0 = time.perf_counter()
            fit_nuts(
                model, data.x_train, data.y_train, hp, key=jax.random.PRNGKey(0), cfg=cfg.inference
            )
            times.append(time.perf_counter() - t0)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "bench" / "svi_vs_nuts")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--skip-timing", action="store_true", help="skip the chain-method timing")
    args = parser.parse_args()
    from bnnrun import rundir
    from bnnrun.pipeline.compare import compare_runs
    from bnnrun.runtime import configure_jax

    backend = configure_jax()
    metrics = {name: run(name, overrides, args.out) for name, overrides in RUNS.items()}
    keep = ["accuracy", "nll", "ece", "mutual_info", "fit_seconds", "total_seconds"]
    result: dict = {
        "cpu": cpu_model(),
        "backend": backend,
        "runs": {
            name: {k: m.get(k) for k in [*keep, "r_hat_max", "ess_bulk_min", "num_divergent"]}
            for name, m in metrics.items()
        },
        "against_nuts": {},
    }
    for name in RUNS:
        if name == "nuts":
            continue
        result["against_nuts"][name] = {
            inputs: compare_runs(args.out / "nuts", args.out / name, inputs=inputs)
            for inputs in ["test", "grid"]
        }
    if not args.skip_timing:
        result["nuts_chain_method_seconds"] = time_chain_methods()
    path = args.results or HERE / "results" / f"svi_vs_nuts-{backend}.json"
    rundir.write_json(path, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
