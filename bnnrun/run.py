"""One run, start to finish: config -> data -> model -> fit -> predict -> analyse -> write.

Every stage but the last is a pure function of its inputs; :func:`execute` strings them together
and is the only place that decides what goes into the run directory.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bnnrun import __version__, plots, rundir
from bnnrun.config import Config, load_config
from bnnrun.data import Dataset, load_dataset
from bnnrun.fit import FitResult, SVIProgram, cached_program, fit_svi
from bnnrun.guides import build_guide
from bnnrun.metrics import classification_metrics
from bnnrun.model import BNN, model_hparams
from bnnrun.nets import Network, build_network, num_params
from bnnrun.optim import build_optimizer
from bnnrun.predict import predictive_probs, sample_guide

log = logging.getLogger(__name__)

#: The ELBO reported as ``elbo_final`` is the mean over this many final steps.
ELBO_FINAL_WINDOW = 100


@dataclass
class Fitted:
    """A fitted posterior: enough to draw from it and predict."""

    cfg: Config
    data: Dataset
    net: Network
    program: SVIProgram
    params: dict[str, np.ndarray]
    hp: Any

    def draws(self, *, key: jax.Array, num_samples: int) -> dict[str, np.ndarray]:
        """Posterior draws ``{site: [S, ...]}`` from the guide."""
        args = (jnp.asarray(self.data.x_train), jnp.asarray(self.data.y_train), self.hp)
        return sample_guide(
            self.program.guide, self.params, key=key, num_samples=num_samples, model_args=args
        )

    def probs(self, draws: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """Predictive class probabilities ``[S, N, C]`` at inputs ``x``."""
        a = self.cfg.analysis
        return predictive_probs(
            self.net, draws, x, data_chunk=a.data_chunk, sample_chunk=a.sample_chunk
        )


def build(cfg: Config, data: Dataset) -> tuple[Network, BNN, Any, SVIProgram]:
    """The network, NumPyro model, its numeric hyperparameters and the (cached) SVI program."""
    net = build_network(
        cfg.architecture, input_shape=data.input_shape, num_classes=data.num_classes
    )
    inf = cfg.inference
    model = BNN(
        net=net,
        prior=cfg.prior.family.value,
        hyperprior=cfg.hyperprior.kind.value,
        num_data=len(data.y_train),
        batch_size=inf.batch_size
        if inf.batch_size and inf.batch_size < len(data.y_train)
        else None,
    )
    key = (model, inf.guide, inf.init_scale, repr(inf.optimizer), inf.num_steps, inf.num_particles)

    def make() -> SVIProgram:
        guide = build_guide(model, name=inf.guide, init_scale=inf.init_scale)
        optimizer = build_optimizer(inf.optimizer, num_steps=inf.num_steps)
        return SVIProgram(model, guide, optimizer, num_particles=inf.num_particles)

    return net, model, model_hparams(cfg.prior, cfg.hyperprior), cached_program(key, make)


def load_fitted(run_dir: Path) -> Fitted:
    """Rebuild a finished run's posterior from its ``.hydra/config.yaml`` and ``posterior.npz``."""
    run_dir = Path(run_dir)
    cfg = load_config(run_dir / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset)
    net, _, hp, program = build(cfg, data)
    params = {k: jnp.asarray(v) for k, v in rundir.load_npz(run_dir / rundir.POSTERIOR).items()}
    return Fitted(cfg=cfg, data=data, net=net, program=program, params=params, hp=hp)


def _fit_record(fit: FitResult) -> dict[str, Any]:
    window = fit.elbo[-ELBO_FINAL_WINDOW:]
    return {
        "elbo_final": float(window.mean()) if window.size else float("nan"),
        "fit_seconds": fit.fit_seconds,
        "compile_seconds": fit.compile_seconds,
        "init_seconds": fit.init_seconds,
        "steps_per_second": fit.steps_per_second,
        "num_steps": fit.num_steps,
    }


def _write_fit(run_dir: Path, fit: FitResult) -> None:
    steps = np.arange(1, len(fit.elbo) + 1)
    rundir.write_csv(run_dir / "elbo.csv", pd.DataFrame({"step": steps, "elbo": fit.elbo}))
    rundir.save_figure(run_dir / "elbo.png", plots.elbo_figure(fit.elbo))


def _write_maps(run_dir: Path, fitted: Fitted, draws: dict[str, np.ndarray]) -> None:
    data = fitted.data
    grid, axes = plots.input_grid(
        np.concatenate([data.x_train, data.x_test]), size=fitted.cfg.analysis.grid_size
    )
    cls = 1  # the paper maps p(class 1); for more classes, the same class for comparability
    # Only mean and std: summarize()'s majority vote costs ~0.5 s on a 100x100 grid.
    p_cls = fitted.probs(draws, grid)[..., cls]
    mean, std = p_cls.mean(axis=0), p_cls.std(axis=0)
    size = axes.shape[1]
    rundir.save_npz(  # the maps' numbers, for a sweep's side-by-side figures
        run_dir / rundir.MAPS,
        {"axes": axes, "mean": mean.reshape(size, size), "std": std.reshape(size, size)},
    )
    for name, values, cmap, vmax in (
        ("predictive_mean", mean, "RdBu_r", 1.0),
        ("predictive_std", std, "viridis", None),
    ):
        what = "mean" if name.endswith("mean") else "std"
        fig = plots.predictive_map_figure(
            axes,
            values,
            data.x_train,
            data.y_train,
            cmap=cmap,
            vmin=0.0,
            vmax=vmax,
            title=f"posterior predictive {what} of p(class {cls} | x)",
        )
        rundir.save_figure(run_dir / f"{name}.png", fig)


def execute(cfg: Config, run_dir: Path) -> dict[str, Any]:
    """Run the experiment ``cfg`` and write its results into ``run_dir``.

    Returns:
        The contents of ``metrics.json`` (written last, atomically).
    """
    run_dir = Path(run_dir)
    rundir.ensure_fresh(run_dir)
    t0 = time.perf_counter()
    data = load_dataset(cfg.dataset)
    net, _, hp, program = build(cfg, data)
    key_fit, key_pred = jax.random.split(jax.random.PRNGKey(cfg.seed))
    log.info(
        "fitting %s on %s: %d params, %d train / %d test points, %d steps",
        type(net).__name__,
        data.name,
        num_params(net),
        len(data.y_train),
        len(data.y_test),
        cfg.inference.num_steps,
    )
    fit = fit_svi(
        program,
        data.x_train,
        data.y_train,
        hp,
        key=key_fit,
        num_steps=cfg.inference.num_steps,
        chunk_size=cfg.inference.chunk_size,
        progress=cfg.runtime.progress,
    )
    record: dict[str, Any] = {
        "status": fit.status,
        "seed": cfg.seed,
        "num_params": num_params(net),
        **_fit_record(fit),
    }
    _write_fit(run_dir, fit)
    if fit.status != "ok":
        record["diverged_at"] = fit.diverged_at
        record["error"] = f"ELBO is not finite at step {fit.diverged_at}"
    else:
        fitted = Fitted(cfg=cfg, data=data, net=net, program=program, params=fit.params, hp=hp)
        t_pred = time.perf_counter()
        draws = fitted.draws(key=key_pred, num_samples=cfg.inference.num_predictive_samples)
        probs = fitted.probs(draws, data.x_test)
        metrics = classification_metrics(probs, data.y_test)
        record["predict_seconds"] = time.perf_counter() - t_pred
        if not all(np.isfinite(v) for v in metrics.values()):
            record["status"] = "diverged"
            bad = sorted(k for k, v in metrics.items() if not np.isfinite(v))
            record["error"] = f"non-finite metrics: {', '.join(bad)}"
        record = {"status": record.pop("status"), **metrics, **record}
        rundir.save_npz(run_dir / rundir.POSTERIOR, fit.params)
        if data.x_train.ndim == 2 and data.x_train.shape[1] == 2:
            _write_maps(run_dir, fitted, draws)
        last = list(net.param_shapes())[-1]
        rundir.save_figure(
            run_dir / "weights_last_layer.png",
            plots.weight_density_figure(draws[f"{last}.w"], layer=last),
        )
    record.update(
        num_train=len(data.y_train),
        num_test=len(data.y_test),
        total_seconds=time.perf_counter() - t0,
        backend=jax.default_backend(),
        versions={"bnnrun": __version__, "jax": jax.__version__},
        config=asdict(cfg),
    )
    rundir.write_json(run_dir / rundir.METRICS, record)
    return record
