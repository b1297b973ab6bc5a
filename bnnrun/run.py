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

from bnnrun import __version__, plots, rundir, uncertainty, uncertainty_plots
from bnnrun.config import Config, load_config
from bnnrun.data import Dataset, load_dataset
from bnnrun.fit import FitResult, SVIProgram, cached_program, fit_svi
from bnnrun.guides import build_guide
from bnnrun.metrics import classification_metrics, majority_vote, reliability, summarize
from bnnrun.minibatch import fit_epochs, total_steps
from bnnrun.model import BNN, model_hparams
from bnnrun.nets import Network, build_network, num_params
from bnnrun.optim import build_optimizer
from bnnrun.predict import chunk_sizes, predictive_probs, resolve_sample_chunk, sample_guide

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
        data_chunk, sample_chunk = chunk_sizes(
            self.net,
            self.data.input_shape,
            data_chunk=a.data_chunk,
            sample_chunk=resolve_sample_chunk(
                a.sample_chunk, net=self.net, backend=jax.default_backend()
            ),
            max_bytes=a.max_chunk_mb << 20,
        )
        return predictive_probs(
            self.net, draws, x, data_chunk=data_chunk, sample_chunk=sample_chunk
        )


def build(cfg: Config, data: Dataset) -> tuple[Network, BNN, Any, SVIProgram]:
    """The network, NumPyro model, its numeric hyperparameters and the (cached) SVI program."""
    net = build_network(
        cfg.architecture, input_shape=data.input_shape, num_classes=data.num_classes
    )
    inf = cfg.inference
    epochs = inf.num_epochs is not None  # minibatches chosen by the epoch loop, not the model
    model = BNN(
        net=net,
        prior=cfg.prior.family.value,
        hyperprior=cfg.hyperprior.kind.value,
        num_data=len(data.y_train),
        batch_size=inf.batch_size
        if not epochs and inf.batch_size and inf.batch_size < len(data.y_train)
        else None,
        given_batches=epochs,
    )
    steps = total_steps(inf, len(data.y_train))
    key = (model, inf.guide, inf.init_scale, repr(inf.optimizer), steps, inf.num_particles)

    def make() -> SVIProgram:
        guide = build_guide(model, name=inf.guide, init_scale=inf.init_scale)
        optimizer = build_optimizer(inf.optimizer, num_steps=steps)
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
    summary = summarize(fitted.probs(draws, grid))
    cls = 1  # the paper maps p(class 1); for more classes, the same class for comparability
    for name, values, cmap, vmax in (
        ("predictive_mean", summary.mean[:, cls], "RdBu_r", 1.0),
        ("predictive_std", summary.std[:, cls], "viridis", None),
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
    net, model, hp, program = build(cfg, data)
    key_fit, key_pred = jax.random.split(jax.random.PRNGKey(cfg.seed))
    log.info(
        "fitting %s on %s: %d params, %d train / %d test points, %d steps",
        type(net).__name__,
        data.name,
        num_params(net),
        len(data.y_train),
        len(data.y_test),
        total_steps(cfg.inference, len(data.y_train)),
    )
    warm_start: FitResult | None = None
    if cfg.inference.num_epochs is not None:
        fit, warm_start = fit_epochs(cfg, data, net, model, hp, program, key=key_fit)
    else:
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
        **_warm_start_record(warm_start),
    }
    _write_fit(run_dir, fit)
    if fit.status != "ok":
        record["diverged_at"] = fit.diverged_at
        where = " of the MAP warm start" if fit is warm_start else ""
        record["error"] = f"ELBO{where} is not finite at step {fit.diverged_at}"
    else:
        fitted = Fitted(cfg=cfg, data=data, net=net, program=program, params=fit.params, hp=hp)
        t_pred = time.perf_counter()
        draws = fitted.draws(key=key_pred, num_samples=cfg.inference.num_predictive_samples)
        probs = fitted.probs(draws, data.x_test)
        metrics = classification_metrics(probs, data.y_test)
        if np.isfinite(probs).all():  # else the run is marked diverged below
            record.update(_validation_metrics(fitted, draws))
            record.update(
                _write_uncertainty(run_dir, data, probs, num_images=cfg.analysis.num_images)
            )
            if cfg.ood is not None:
                record.update(_write_ood(run_dir, fitted, draws, probs))
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


def _warm_start_record(warm: FitResult | None) -> dict[str, Any]:
    if warm is None:
        return {}
    return {
        "warm_start_steps": warm.num_steps,
        "warm_start_seconds": warm.fit_seconds,
        "warm_start_log_joint_final": float(warm.elbo[-ELBO_FINAL_WINDOW:].mean()),
    }


def _validation_metrics(fitted: Fitted, draws: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy, NLL and ECE on the validation split (``val_*``), if the data set has one."""
    data = fitted.data
    if data.x_val is None or len(data.y_val) == 0:
        return {}
    metrics = classification_metrics(fitted.probs(draws, data.x_val), data.y_val)
    return {f"val_{k}": metrics[k] for k in ("accuracy", "nll", "ece")}


def _class_names(data: Dataset) -> tuple[str, ...]:
    return data.class_names or tuple(str(c) for c in range(data.num_classes))


def _write_uncertainty(
    run_dir: Path, data: Dataset, probs: np.ndarray, *, num_images: int
) -> dict[str, Any]:
    """The reliability diagram for every run; for images also the paper's uncertainty
    analyses (figs. 4-6). Returns their numbers for ``metrics.json``."""
    mean = probs.mean(axis=0)
    rundir.save_figure(
        run_dir / "reliability.png",
        uncertainty_plots.reliability_figure(reliability(mean, data.y_test)),
    )
    record = uncertainty.uncertainty_metrics(probs, data.y_test)
    if data.x_test.ndim != 4:
        return record
    names = _class_names(data)
    eer = uncertainty.expected_error_rate(probs)
    vote = majority_vote(probs)
    figures = {
        "class_variance": uncertainty_plots.class_variance_figure(
            uncertainty.class_variance(probs, data.y_test), class_names=names
        ),
        "expected_error_rate": uncertainty_plots.expected_error_rate_figure(
            eer, num_draws=probs.shape[0]
        ),
    }
    for name, idx, title in (
        (
            "confident_mistakes",
            uncertainty.confident_mistakes(probs, data.y_test),
            "misclassified with expected error rate 0",
        ),
        (
            "most_uncertain",
            uncertainty.most_uncertain(probs, k=num_images),
            "highest expected error rate",
        ),
    ):
        shown = idx[:num_images]
        figures[name] = uncertainty_plots.image_grid_figure(
            data.x_test[shown],
            true=data.y_test[shown],
            pred=vote[shown],
            eer=eer[shown],
            class_names=names,
            title=f"{title} ({len(shown)} of {len(idx)})",
        )
    for name, fig in figures.items():
        rundir.save_figure(run_dir / f"{name}.png", fig)
    return record


def _write_ood(
    run_dir: Path, fitted: Fitted, draws: dict[str, np.ndarray], probs: np.ndarray
) -> dict[str, Any]:
    """AUROCs of entropy and mutual information for the ``ood`` data set's test inputs against
    the run's own test inputs, and their histograms (``ood_hist.png``)."""
    ood_cfg = fitted.cfg.ood
    ood = load_dataset(ood_cfg)
    s_in = uncertainty.ood_scores(probs)
    s_out = uncertainty.ood_scores(fitted.probs(draws, ood.x_test))
    scores = {name: (getattr(s_in, name), getattr(s_out, name)) for name in s_in._fields}
    aurocs = {name: uncertainty.ood_auroc(*pair) for name, pair in scores.items()}
    fig = uncertainty_plots.ood_histogram_figure(
        scores,
        aurocs=aurocs,
        in_name=fitted.data.name,
        out_name=ood.name,
    )
    rundir.save_figure(run_dir / "ood_hist.png", fig)
    return {
        "ood_dataset": ood.name,
        "ood_num_test": len(ood.y_test),
        **{f"ood_auroc_{name}": value for name, value in aurocs.items()},
    }
