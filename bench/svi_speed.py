"""SVI speed of the paper's moons network against a deterministic network of the same shape.

Times, in one process and on the same data (moons, 700 training points, full batch):

- ``deterministic``: an optax Adam step on the cross-entropy of a plain 2-5-5-2 tanh network,
  in the same chunked ``lax.scan`` loop bnnrun uses;
- ``bnnrun``: bnnrun's own SVI program (AutoNormal, Trace_ELBO, Adam) for the default config;
- ``numpyro-run``: NumPyro's ``SVI.run`` on the same model (its own Python loop);
- ``pymc-advi``: PyMC's ADVI on the identical model, data and step count, if PyMC is installed
  (``pip install -e '.[bench]'``).

Each variant runs ``--repeats`` times, interleaved, after its compilation; the report gives the
median steps per second and the ratio of the deterministic network's speed to each, so noise
from a shared machine mostly cancels. Results go to ``bench/results/svi_speed-<backend>.json``.

Usage: ``python bench/svi_speed.py [--steps 20000] [--repeats 5] [--threads 1]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bnnrun.runtime import configure_jax, cpu_model


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20_000, help="steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="XLA CPU threads (0: all cores)")
    p.add_argument("--platform", default=None, help="cpu, gpu or tpu (default: JAX's choice)")
    p.add_argument("--no-pymc", action="store_true", help="skip PyMC even if installed")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return p.parse_args()


def main() -> None:
    args = parse()
    backend = configure_jax(
        platform=args.platform, cpu_threads=args.threads or None, compilation_cache=False
    )
    import jax
    import jax.numpy as jnp
    import optax
    from baseline import deterministic_rate, svi_rate
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.optim import optax_to_numpyro

    from bnnrun.config import to_run_config
    from bnnrun.config.compose import CONF_DIR, compose_config, without_hydra
    from bnnrun.data import load_dataset
    from bnnrun.pipeline.build import build, guide_for

    cfg = to_run_config(
        without_hydra(compose_config(["runtime.progress=false"], conf_dir=CONF_DIR))
    )
    data = load_dataset(cfg.dataset)
    net, model, hp, program = build(cfg, data)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    chunk = cfg.inference.chunk_size
    steps = args.steps - args.steps % chunk

    # Deterministic network: same shape, same chunked scan, Adam at the same learning rate.
    lr = cfg.inference.optimizer.lr

    def loss_fn(params):
        logp = jax.nn.log_softmax(net.apply(params, x))
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    run_deterministic = deterministic_rate(net, loss_fn, lr=lr, chunk=chunk, steps=steps)
    run_bnnrun = svi_rate(program, x, y, hp, chunk=chunk, steps=steps)

    # A guide of its own: the program's was set up inside a compiled trace (SVIProgram.init).
    numpyro_svi = SVI(model, guide_for(model, cfg), optax_to_numpyro(optax.adam(lr)), Trace_ELBO())
    ref_steps = min(steps, 5000)  # SVI.run is slow; fewer steps give the same rate

    def run_numpyro() -> float:
        t0 = time.perf_counter()
        res = numpyro_svi.run(jax.random.PRNGKey(0), ref_steps, x, y, hp, progress_bar=False)
        jax.block_until_ready(res.losses)
        return ref_steps / (time.perf_counter() - t0)

    variants: dict[str, Callable[[], float]] = {
        "deterministic": run_deterministic,
        "bnnrun": run_bnnrun,
        "numpyro-run": run_numpyro,
    }
    pymc_rate = None if args.no_pymc else pymc_advi_rate(data, cfg, steps=min(steps, 10_000))
    run_bnnrun()  # compile
    run_numpyro()
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            rates[name].append(fn())
    med = {k: statistics.median(v) for k, v in rates.items()}
    if pymc_rate is not None:
        med["pymc-advi"] = pymc_rate
    base = med["deterministic"]
    result = {
        "benchmark": "svi_speed",
        "network": "2-5-5-2 tanh, moons, 700 training points, full batch",
        "steps_per_repeat": steps,
        "repeats": args.repeats,
        "backend": backend,
        "device": str(jax.devices()[0]),
        "cpu_threads": args.threads or "all",
        "machine": machine(),
        "versions": {"jax": jax.__version__, "python": sys.version.split()[0]},
        "steps_per_second": {k: round(v, 1) for k, v in med.items()},
        "us_per_step": {k: round(1e6 / v, 1) for k, v in med.items()},
        "slowdown_vs_deterministic": {k: round(base / v, 3) for k, v in med.items()},
        "all_steps_per_second": {k: [round(r, 1) for r in v] for k, v in rates.items()},
    }
    print(f"{'variant':<15} {'steps/s':>10} {'us/step':>9} {'x deterministic':>16}")
    for k in med:
        print(f"{k:<15} {med[k]:>10.0f} {1e6 / med[k]:>9.1f} {base / med[k]:>16.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"svi_speed-{backend}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    target = 1.5
    ratio = result["slowdown_vs_deterministic"]["bnnrun"]
    print(f"bnnrun SVI / deterministic step time: {ratio:.2f} (goal <= {target})")


def machine() -> str:
    """CPU model and visible cores, e.g. ``Intel(R) Xeon(R) Processor, 2 cores``."""
    return f"{cpu_model()}, {len(os.sched_getaffinity(0))} cores"


def pymc_advi_rate(data, cfg, *, steps: int) -> float | None:
    """Steps per second of PyMC's ADVI on the same model, or None without PyMC."""
    try:
        import pymc as pm
        import pytensor.tensor as pt
    except ImportError:
        print("PyMC not installed: skipping the PyMC comparison (pip install -e '.[bench]')")
        return None

    sizes = [data.x_train.shape[1], *cfg.architecture.hidden, data.num_classes]
    scale = cfg.prior.scale
    with pm.Model():
        h = pm.Data("x", data.x_train)
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            w = pm.Normal(f"layer{i + 1}.w", 0.0, scale, shape=(a, b))
            bias = pm.Normal(f"layer{i + 1}.b", 0.0, scale, shape=(b,))
            h = pt.dot(h, w) + bias
            if i < len(sizes) - 2:
                h = pt.tanh(h)
        pm.Categorical("y", logit_p=h, observed=data.y_train)
        advi = pm.ADVI(random_seed=0)
        advi.fit(n=10, progressbar=False)  # compile
        t0 = time.perf_counter()
        advi.refine(steps, progressbar=False)
        rate = steps / (time.perf_counter() - t0)
    return rate


if __name__ == "__main__":
    main()
