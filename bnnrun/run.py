"""One run, start to finish: config -> data -> model -> fit -> predict -> analyse -> write.

Every stage but the last is a pure function of its inputs; :func:`execute` strings them together
and is the only place that decides what goes into the run directory. The fit is SVI (an
autoguide, checkpointed and resumable) or NUTS (samples); from the posterior draws on, both go
the same way.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bnnrun import __version__, inference_data, plots, rundir, uncertainty, uncertainty_plots
from bnnrun.checkpoint import (
    CHECKPOINT,
    Checkpoint,
    Checkpointer,
    check_resumable,
    fingerprint,
)
from bnnrun.config import (
    Config,
    GuideName,
    InformedPriorConfig,
    config_from_record,
    load_config,
)
from bnnrun.data import Dataset, load_dataset
from bnnrun.errors import ConfigError, DataError
from bnnrun.fit import FitResult, SVIProgram, cached_program, fit_svi
from bnnrun.guides import build_guide, guide_median
from bnnrun.informed import CENTRES, informed_layers, load_centres
from bnnrun.mcmc import fit_nuts
from bnnrun.metrics import classification_metrics, majority_vote, reliability
from bnnrun.minibatch import fit_epochs, total_steps
from bnnrun.model import BNN, model_hparams
from bnnrun.nets import Network, build_network, num_params
from bnnrun.objective import (
    ANALYTIC,
    at_step,
    build_elbo,
    kl_estimators,
    kl_weighted,
    objective_hparams,
)
from bnnrun.optim import build_optimizer
from bnnrun.predict import chunk_sizes, predictive_probs, resolve_sample_chunk, sample_guide
from bnnrun.priors import distribution_family
from bnnrun.runtime import RUN_ONCE

log = logging.getLogger(__name__)

#: The ELBO reported as ``elbo_final`` is the mean over this many final steps.
ELBO_FINAL_WINDOW = 100
#: The full-rank guide stores a D x D covariance; above this many latent values it is refused.
MVN_MAX_LATENT = 10_000
#: A NUTS run's per-parameter diagnostics (ArviZ summary).
MCMC_SUMMARY = "mcmc_summary.csv"


@dataclass
class Fitted:
    """A fitted posterior: enough to draw from it and predict.

    An SVI posterior is the ``program``'s guide at ``params``; a NUTS posterior is its
    ``samples`` ``{site: [S, *shape]}`` (``program`` None, ``params`` empty).
    """

    cfg: Config
    data: Dataset
    net: Network
    program: SVIProgram | None
    params: dict[str, np.ndarray]
    hp: Any
    samples: dict[str, np.ndarray] | None = None

    def _model_args(self) -> tuple:
        return (jnp.asarray(self.data.x_train), jnp.asarray(self.data.y_train), self.hp)

    def draws(self, *, key: jax.Array, num_samples: int) -> dict[str, np.ndarray]:
        """Posterior draws ``{site: [S, ...]}``: S = ``num_samples`` draws from the guide, or
        for NUTS the samples (all, or ``num_samples`` of them evenly spaced if fewer)."""
        if self.samples is not None:
            total = len(next(iter(self.samples.values())))
            if num_samples >= total:
                return self.samples
            keep = np.linspace(0, total - 1, num_samples).round().astype(int)
            return {k: v[keep] for k, v in self.samples.items()}
        assert self.program is not None
        latent = sample_guide(
            self.program.guide,
            self.params,
            key=key,
            num_samples=num_samples,
            model_args=self._model_args(),
        )
        return self._with_derived(latent, batched=True)

    def point_estimate(self) -> dict[str, np.ndarray]:
        """``{site: array}`` of every latent site: the posterior mean (the guide's, or the
        samples'), or the MAP value for a ``delta`` guide."""
        if self.samples is not None:
            return {k: v.mean(axis=0) for k, v in self.samples.items()}
        assert self.program is not None
        median = guide_median(_guide(self.program.model, self.cfg), self.params, self._model_args())
        return self._with_derived(median, batched=False)

    def _with_derived(self, latent: dict[str, np.ndarray], *, batched: bool) -> dict[str, Any]:
        """``latent`` plus the parameters a non-centred model derives from it (``layer1.w``
        from ``layer1.w_decentered`` and ``layer1.w_scale``), so every later stage sees the
        network's weights by their own names. NUTS samples hold them already."""
        assert self.program is not None
        model = self.program.model
        if not model.noncentered:
            return latent
        derived = _derive_fn(model, batched)(latent, self.hp)
        return {**latent, **{k: np.asarray(v) for k, v in derived.items()}}

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


@functools.lru_cache(maxsize=16)
def _derive_fn(model: BNN, batched: bool) -> Any:
    """:meth:`BNN.derived_params` compiled once per model structure (``batched``: over a
    leading axis of draws), so the runs of a sweep share it."""
    fn = jax.vmap(model.derived_params, in_axes=(0, None)) if batched else model.derived_params
    return jax.jit(fn, compiler_options=RUN_ONCE)


def _guide(model: BNN, cfg: Config) -> Any:
    inf = cfg.inference
    return build_guide(model, name=inf.guide, init_scale=inf.init_scale, rank=inf.rank)


def _objective(cfg: Config) -> dict[str, jax.Array]:
    inf = cfg.inference
    if inf.method == "nuts":
        return objective_hparams(temperature=inf.temperature)
    return objective_hparams(
        beta=inf.beta, beta_warmup_steps=inf.beta_warmup_steps, temperature=inf.temperature
    )


def build(
    cfg: Config, data: Dataset, *, centres: dict[str, np.ndarray] | None = None
) -> tuple[Network, BNN, Any, SVIProgram | None]:
    """The network, NumPyro model, its numeric hyperparameters and the (cached) SVI program
    (None for NUTS).

    Args:
        centres: an informed prior's centres ``{site: array}``; default: read from
            ``cfg.prior.source``.
    """
    net = build_network(
        cfg.architecture, input_shape=data.input_shape, num_classes=data.num_classes
    )
    inf = cfg.inference
    informed = None
    if isinstance(cfg.prior, InformedPriorConfig):
        informed = informed_layers(cfg.prior, net.param_shapes())
        if centres is None:
            centres = load_centres(
                cfg.prior, net.param_shapes(), informed, read_run=_run_point_estimate
            )
    # With epochs, the epoch loop chooses the minibatches; otherwise the model may subsample.
    epochs = getattr(inf, "num_epochs", None) is not None
    batch_size = None if epochs else getattr(inf, "batch_size", None)
    model = BNN(
        net=net,
        prior=distribution_family(cfg.prior),
        hyperprior=cfg.hyperprior.kind.value,
        num_data=len(data.y_train),
        batch_size=batch_size if batch_size and batch_size < len(data.y_train) else None,
        informed=informed,
        given_batches=epochs,
        noncentered=getattr(cfg.hyperprior, "noncentered", False),
    )
    hp = model_hparams(cfg.prior, cfg.hyperprior, objective=_objective(cfg), centres=centres)
    if inf.method == "nuts":
        return net, model, hp, None
    if inf.guide is GuideName.mvn and num_params(net) > MVN_MAX_LATENT:
        raise ConfigError(
            f"inference.guide=mvn keeps a D x D covariance, and this network has D = "
            f"{num_params(net)} parameters (mvn allows at most {MVN_MAX_LATENT}): use "
            "inference.guide=lowrank or normal"
        )
    steps = total_steps(inf, len(data.y_train))
    key = (
        model,
        inf.guide,
        inf.rank,
        inf.elbo,
        inf.init_scale,
        repr(inf.optimizer),
        steps,
        inf.num_particles,
    )

    def make() -> SVIProgram:
        guide = _guide(model, cfg)
        return SVIProgram(
            model,
            guide,
            build_optimizer(inf.optimizer, num_steps=steps),
            loss=build_elbo(inf.elbo, num_particles=inf.num_particles),
            loss_guide=kl_weighted(guide),
            hp_at_step=at_step,
        )

    return net, model, hp, cached_program(key, make)


def run_config(run_dir: Path) -> Config:
    """The config of a finished run: the resolved one its ``metrics.json`` records, else (a
    run that recorded none) Hydra's ``.hydra/config.yaml``.

    The recorded one comes first because Hydra saves its config unresolved: a transfer job's
    ``prior.source: ${hydra:sweep.dir}/pretrain`` resolves only inside that sweep.

    Raises:
        DataError: ``run_dir`` holds neither.
    """
    record = rundir.read_metrics(run_dir) or {}
    if "config" in record:
        return config_from_record(record["config"], where=run_dir / rundir.METRICS)
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise DataError(f"{run_dir} holds no finished bnnrun run (no config recorded)")
    return load_config(saved)


def load_fitted(run_dir: Path) -> Fitted:
    """Rebuild a finished run's posterior from its config (:func:`run_config`) and its
    ``posterior.npz`` (an informed run's prior centres from its ``prior_centres.npz``)."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    data = load_dataset(cfg.dataset)
    centres = rundir.load_npz(run_dir / CENTRES) if (run_dir / CENTRES).exists() else None
    net, _, hp, program = build(cfg, data, centres=centres)
    saved = rundir.load_npz(run_dir / rundir.POSTERIOR)
    if program is None:
        return Fitted(cfg=cfg, data=data, net=net, program=None, params={}, hp=hp, samples=saved)
    params = {k: jnp.asarray(v) for k, v in saved.items()}
    return Fitted(cfg=cfg, data=data, net=net, program=program, params=params, hp=hp)


@functools.lru_cache(maxsize=4)
def _run_point_estimate(run_dir: Path) -> dict[str, np.ndarray]:
    # Cached: the informed jobs of a sweep share one source, and a finished run never changes.
    return load_fitted(run_dir).point_estimate()


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


def _svi_stage(
    cfg: Config,
    run_dir: Path,
    data: Dataset,
    net: Network,
    model: BNN,
    hp: Any,
    program: SVIProgram,
    *,
    key: jax.Array,
    resume_from: Checkpoint | None,
) -> tuple[dict[str, Any], Fitted | None]:
    """Fit by SVI (from a checkpoint if ``resume_from``); write the ELBO trace and the guide's
    parameters. Returns the record so far and the posterior (None if the fit diverged)."""
    inf = cfg.inference
    on_chunk = None
    if inf.checkpoint_every is not None:
        on_chunk = Checkpointer(
            run_dir / CHECKPOINT,
            every=inf.checkpoint_every,
            num_steps=total_steps(inf, len(data.y_train)),
            config=fingerprint(cfg),
            start=0 if resume_from is None else resume_from.step,
        )
    if resume_from is not None:
        log.info("resuming from the checkpoint at step %d", resume_from.step)
    elif cfg.resume:
        log.info("resume=true, but %s holds no checkpoint: starting at step 0", run_dir)
    warm_start: FitResult | None = None
    if inf.num_epochs is not None:
        fit, warm_start = fit_epochs(
            cfg, data, net, model, hp, program, key=key, resume=resume_from, on_chunk=on_chunk
        )
    else:
        fit = fit_svi(
            program,
            data.x_train,
            data.y_train,
            hp,
            key=key,
            num_steps=inf.num_steps,
            chunk_size=inf.chunk_size,
            progress=cfg.runtime.progress,
            resume=resume_from,
            on_chunk=on_chunk,
        )
    kl = kl_estimators(inf.elbo, model, _guide(model, cfg), (data.x_train, data.y_train, hp))
    record: dict[str, Any] = {
        "status": fit.status,
        "seed": cfg.seed,
        "num_params": num_params(net),
        **_fit_record(fit),
        **_warm_start_record(warm_start),
        "kl_analytic_sites": [site for site, how in kl.items() if how == ANALYTIC],
        "kl_monte_carlo_sites": [site for site, how in kl.items() if how != ANALYTIC],
    }
    if resume_from is not None:
        record["resumed_from_step"] = resume_from.step
    _write_fit(run_dir, fit)
    if fit.status != "ok":
        record["diverged_at"] = fit.diverged_at
        where = " of the MAP warm start" if fit is warm_start else ""
        record["error"] = f"ELBO{where} is not finite at step {fit.diverged_at}"
        return record, None
    rundir.save_npz(run_dir / rundir.POSTERIOR, fit.params)
    return record, Fitted(cfg=cfg, data=data, net=net, program=program, params=fit.params, hp=hp)


def _nuts_stage(
    cfg: Config, run_dir: Path, data: Dataset, net: Network, model: BNN, hp: Any, *, key: jax.Array
) -> tuple[dict[str, Any], Fitted]:
    """Sample by NUTS; write the samples, their InferenceData and per-parameter diagnostics."""
    result = fit_nuts(
        model,
        data.x_train,
        data.y_train,
        hp,
        key=key,
        cfg=cfg.inference,
        progress=cfg.runtime.progress,
    )
    samples = result.flat_samples()
    idata = inference_data.from_mcmc(result.mcmc)
    summary = inference_data.diagnostics(idata)
    rundir.write_csv(run_dir / MCMC_SUMMARY, summary.reset_index(names="parameter"))
    rundir.save_npz(run_dir / rundir.POSTERIOR, samples)
    rundir.save_netcdf(run_dir / rundir.INFERENCE_DATA, idata)
    stats = result.stats
    record: dict[str, Any] = {
        "status": "ok",
        "seed": cfg.seed,
        "num_params": num_params(net),
        "num_samples": len(next(iter(samples.values()))),
        "num_chains": cfg.inference.num_chains,
        "num_divergent": int(stats["diverging"].sum()),
        "accept_prob_mean": float(stats["accept_prob"].mean()),
        "leapfrog_steps_mean": float(stats["num_steps"].mean()),
        "r_hat_max": float(summary["r_hat"].max()),
        "ess_bulk_min": float(summary["ess_bulk"].min()),
        "ess_tail_min": float(summary["ess_tail"].min()),
        "fit_seconds": result.run_seconds,
    }
    fitted = Fitted(cfg=cfg, data=data, net=net, program=None, params={}, hp=hp, samples=samples)
    return record, fitted


def execute(cfg: Config, run_dir: Path) -> dict[str, Any]:
    """Run the experiment ``cfg`` and write its results into ``run_dir``.

    With ``cfg.resume`` and a checkpoint in ``run_dir``, an SVI fit continues from it.

    Returns:
        The contents of ``metrics.json`` (written last, atomically).
    """
    run_dir = Path(run_dir)
    rundir.ensure_fresh(run_dir)
    resume_from = check_resumable(run_dir, cfg)
    t0 = time.perf_counter()
    data = load_dataset(cfg.dataset)
    net, model, hp, program = build(cfg, data)
    if "centres" in hp:
        rundir.save_npz(run_dir / CENTRES, hp["centres"])
    key_fit, key_pred = jax.random.split(jax.random.PRNGKey(cfg.seed))
    inf = cfg.inference
    log.info(
        "fitting %s on %s by %s: %d params, %d train / %d test points",
        type(net).__name__,
        data.name,
        inf.method,
        num_params(net),
        len(data.y_train),
        len(data.y_test),
    )
    if program is None:
        record, fitted = _nuts_stage(cfg, run_dir, data, net, model, hp, key=key_fit)
        num_draws = record["num_samples"]
    else:
        record, fitted = _svi_stage(
            cfg, run_dir, data, net, model, hp, program, key=key_fit, resume_from=resume_from
        )
        num_draws = inf.num_predictive_samples
    if fitted is not None:
        t_pred = time.perf_counter()
        draws = fitted.draws(key=key_pred, num_samples=num_draws)
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
        if program is not None:
            idata = inference_data.from_draws(draws, y_observed=data.y_train)
            rundir.save_netcdf(run_dir / rundir.INFERENCE_DATA, idata)
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
    # The run is finished: its checkpoint could only resume what is already done.
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
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
