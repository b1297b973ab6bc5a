"""One run, start to finish: config -> data -> model -> fit -> predict -> analyse -> write.

:func:`execute` strings the stages together; the stages before it are pure functions of their
inputs (:mod:`~bnnrun.pipeline.build`, :mod:`bnnrun.inference`, :mod:`bnnrun.analysis`), and
what goes into the run directory is written by :mod:`~bnnrun.pipeline.outputs` and here, each
file atomically, ``metrics.json`` last. The fit is SVI (an autoguide, checkpointed and
resumable) or NUTS (samples); from the posterior draws on, both go the same way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jax
import numpy as np

from bnnrun import __version__, rundir
from bnnrun.analysis import inference_data
from bnnrun.analysis.metrics import classification_metrics
from bnnrun.analysis.regression import regression_metrics
from bnnrun.config import Config
from bnnrun.data import Dataset, load_dataset
from bnnrun.errors import ModelError
from bnnrun.inference.checkpoint import (
    CHECKPOINT,
    Checkpoint,
    Checkpointer,
    check_resumable,
    fingerprint,
)
from bnnrun.inference.epochs import fit_epochs, total_steps
from bnnrun.inference.mcmc import fit_nuts
from bnnrun.inference.objective import ANALYTIC, kl_estimators
from bnnrun.inference.program import FitResult, fit_svi, steps_per_epoch
from bnnrun.model.informed import CENTRES
from bnnrun.model.nets import num_params
from bnnrun.pipeline.batch import Prefitted, fit_members, restart_keys
from bnnrun.pipeline.build import Built, guide_for
from bnnrun.pipeline.outputs import (
    write_fit,
    write_inference_data,
    write_maps,
    write_ood,
    write_regression,
    write_uncertainty,
    write_weights,
)
from bnnrun.pipeline.posterior import FittedRun, NUTSRun, SVIRun
from bnnrun.pipeline.reload import build_model

log = logging.getLogger(__name__)

#: The ELBO reported as ``elbo_final`` is the mean over this many final steps.
ELBO_FINAL_WINDOW = 100
#: A NUTS run's per-parameter diagnostics (ArviZ summary).
MCMC_SUMMARY = "mcmc_summary.csv"


class Laps:
    """Wall time of a run's stages, in the order they ran: each lap ends where the next one
    begins, so the laps add up to the run's ``total_seconds``."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, *, parts: dict[str, float] | None = None) -> None:
        """End the current lap and add its time to ``stage``; ``parts`` are sub-stages whose
        seconds were measured within the lap (they go to their own names, the rest to
        ``stage``)."""
        now = time.perf_counter()
        rest = now - self._last
        for name, seconds in (parts or {}).items():
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            rest -= seconds
        self.seconds[stage] = self.seconds.get(stage, 0.0) + rest
        self._last = now


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


def _svi_stage(
    cfg: Config,
    run_dir: Path,
    data: Dataset,
    built: Built,
    *,
    key: jax.Array,
    key_pred: jax.Array,
    resume_from: Checkpoint | None,
    prefitted: Prefitted | None,
    laps: Laps,
) -> tuple[dict[str, Any], SVIRun | None]:
    """Fit by SVI (from a checkpoint if ``resume_from``; or take the fit ``prefitted`` with
    other runs); write the ELBO trace and the guide's parameters. Returns the record so far
    and the posterior (None if the fit diverged)."""
    net, model, hp, program = built
    assert program is not None
    inf = cfg.inference
    restarts: list[dict[str, Any]] = []
    if inf.restarts > 1 and prefitted is None and resume_from is None:
        prefitted, restarts = _fit_restarts(cfg, data, built, key=key, key_pred=key_pred)
    on_chunk = None
    if inf.checkpoint_every is not None and prefitted is None:  # fits made together: none
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
    if prefitted is not None:
        log.info("fitted together with %d other fits as one program", prefitted.members - 1)
        fit, warm_start = prefitted.fit, prefitted.warm_start
    elif inf.num_epochs is not None:
        fit, warm_start = fit_epochs(
            cfg,
            data,
            model=model,
            hp=hp,
            program=program,
            key=key,
            resume=resume_from,
            on_chunk=on_chunk,
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
    laps("fit_other", parts=_fit_parts(fit, warm_start))
    kl = kl_estimators(
        inf.elbo,
        model=model,
        guide=guide_for(model, cfg),
        model_args=(data.x_train, data.y_train, hp),
    )
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
    if restarts:
        record["restarts"] = restarts
        record["restart_chosen"] = next(i for i, r in enumerate(restarts) if r["chosen"])
    elif prefitted is not None:
        record["batch_members"] = prefitted.members
    per_epoch = (
        None if inf.num_epochs is None else steps_per_epoch(len(data.y_train), inf.batch_size)
    )
    write_fit(run_dir, fit, cfg.analysis, warm_start=warm_start, steps_per_epoch=per_epoch)
    if fit.status != "ok":
        record["diverged_at"] = fit.diverged_at
        where = " of the MAP warm start" if fit is warm_start else ""
        record["error"] = f"ELBO{where} is not finite at step {fit.diverged_at}"
        laps("fit_outputs")
        return record, None
    rundir.save_npz(run_dir / rundir.POSTERIOR, fit.params)
    laps("fit_outputs")
    fitted = SVIRun(
        cfg=cfg, data=data, net=net, model=model, hp=hp, program=program, params=fit.params
    )
    return record, fitted


def _fit_restarts(
    cfg: Config, data: Dataset, built: Built, *, key: jax.Array, key_pred: jax.Array
) -> tuple[Prefitted, list[dict[str, Any]]]:
    """``inference.restarts`` fits from different initial values as one program; the one
    with the best final ELBO, and per restart its final ELBO, status and headline metric
    (accuracy, or RMSE; on the test split, from the run's predictive draws)."""
    k = cfg.inference.restarts
    fits = fit_members(cfg, data, built, hps=[built.hp] * k, keys=restart_keys(key, k))
    started = [f for f in fits if not isinstance(f, ModelError)]
    if not started:
        raise fits[0]  # type: ignore[misc]
    records: list[dict[str, Any]] = []
    for i, f in enumerate(fits):
        if isinstance(f, ModelError):
            records.append({"restart": i, "status": "failed", "error": str(f)})
            continue
        rec = {"restart": i, "status": f.fit.status, **_fit_record(f.fit)}
        if f.fit.status == "ok":
            run = SVIRun(
                cfg=cfg, data=data, net=built.net, model=built.model, hp=built.hp,
                program=built.program, params=f.fit.params,
            )  # fmt: skip
            draws = run.draws(key=key_pred, num_samples=cfg.inference.num_predictive_samples)
            if run.is_regression:
                pred = run.loc_scale(draws, data.x_test)
                y = data.y_original(data.y_test)
                rec["rmse"] = regression_metrics(pred.loc, pred.scale, y, df=pred.df)["rmse"]
            else:
                probs = run.probs(draws, data.x_test)
                rec["accuracy"] = classification_metrics(probs, data.y_test)["accuracy"]
        records.append(rec)
    ok = [i for i, r in enumerate(records) if r["status"] == "ok"]
    best = max(ok, key=lambda i: records[i]["elbo_final"]) if ok else fits.index(started[0])
    for i, r in enumerate(records):
        r["chosen"] = i == best
    log.info(
        "restarts: final ELBO %s; keeping restart %d",
        ", ".join(f"{r.get('elbo_final', float('nan')):.4g}" for r in records),
        best,
    )
    chosen = fits[best]
    assert not isinstance(chosen, ModelError)
    return Prefitted(fit=chosen.fit, warm_start=chosen.warm_start, members=k), records


def _nuts_stage(
    cfg: Config, run_dir: Path, data: Dataset, built: Built, *, key: jax.Array, laps: Laps
) -> tuple[dict[str, Any], NUTSRun]:
    """Sample by NUTS; write the samples, their InferenceData and per-parameter diagnostics."""
    net, model, hp, _ = built
    result = fit_nuts(
        model,
        data.x_train,
        data.y_train,
        hp,
        key=key,
        cfg=cfg.inference,
        progress=cfg.runtime.progress,
    )
    laps("nuts")
    samples = result.flat_samples()
    fitted = NUTSRun(cfg=cfg, data=data, net=net, model=model, hp=hp, samples=samples)
    idata = write_inference_data(run_dir, fitted, samples, mcmc=result.mcmc)
    summary = inference_data.diagnostics(idata)
    rundir.write_csv(run_dir / MCMC_SUMMARY, summary.reset_index(names="parameter"))
    rundir.save_npz(run_dir / rundir.POSTERIOR, samples)
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
    laps("fit_outputs")
    return record, fitted


def execute(cfg: Config, run_dir: Path, *, prefitted: Prefitted | None = None) -> dict[str, Any]:
    """Run the experiment ``cfg`` and write its results into ``run_dir``.

    With ``cfg.resume`` and a checkpoint in ``run_dir``, an SVI fit continues from it.
    ``prefitted``: the run's SVI fit, made together with other runs
    (:func:`~bnnrun.pipeline.batch.fit_together`); the run then fits nothing itself, and its
    timings (``fit_seconds``, ``steps_per_second``) are the whole program's.

    The directory is locked while the run lasts (:func:`bnnrun.rundir.locked`). A record of a
    run that did not finish (status other than ``ok``) is replaced; a finished one is refused.

    Returns:
        The contents of ``metrics.json`` (written last, atomically).

    Raises:
        RunDirError: ``run_dir`` holds a finished run, a run in progress, or a checkpoint this
            run may not continue.
    """
    run_dir = Path(run_dir)
    with rundir.locked(run_dir):
        replace_unfinished(run_dir)
        rundir.ensure_fresh(run_dir)
        return _execute(cfg, run_dir, prefitted=prefitted)


def replace_unfinished(run_dir: Path) -> None:
    """Remove the record of a run in ``run_dir`` that did not finish, and log it."""
    record = rundir.read_metrics(run_dir)
    if rundir.discard_unfinished(run_dir):
        assert record is not None
        log.info(
            "re-running: %s recorded a run that did not finish (status %s); it is replaced",
            run_dir / rundir.METRICS,
            record.get("status"),
        )


def _execute(cfg: Config, run_dir: Path, *, prefitted: Prefitted | None) -> dict[str, Any]:
    resume_from = check_resumable(run_dir, cfg)
    t0 = time.perf_counter()
    laps = Laps()
    data = load_dataset(cfg.dataset)
    laps("data")
    built = build_model(cfg, data)
    net, hp, program = built.net, built.hp, built.program
    if "centres" in hp:
        rundir.save_npz(run_dir / CENTRES, hp["centres"])
    laps("build")
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
        record, fitted = _nuts_stage(cfg, run_dir, data, built, key=key_fit, laps=laps)
        num_draws = record["num_samples"]
    else:
        record, fitted = _svi_stage(
            cfg,
            run_dir,
            data,
            built,
            key=key_fit,
            key_pred=key_pred,
            resume_from=resume_from,
            prefitted=prefitted,
            laps=laps,
        )
        num_draws = inf.num_predictive_samples
    if fitted is not None:
        t_pred = time.perf_counter()
        draws = fitted.draws(key=key_pred, num_samples=num_draws)
        if fitted.is_regression:
            pred = fitted.loc_scale(draws, data.x_test)
            finite = bool(np.isfinite(pred.loc).all() and np.isfinite(pred.scale).all())
            metrics = (
                regression_metrics(pred.loc, pred.scale, data.y_original(data.y_test), df=pred.df)
                if finite
                else {"rmse": float("nan"), "nll": float("nan")}
            )
            laps("predict")
            if finite:
                write_regression(run_dir, fitted, draws, pred=pred)
        else:
            probs = fitted.probs(draws, data.x_test)
            # Non-finite probabilities (a diverged posterior) have no metrics: marked below.
            metrics = (
                classification_metrics(probs, data.y_test)
                if np.isfinite(probs).all()
                else {"accuracy": float("nan"), "nll": float("nan")}
            )
            laps("predict")
            if np.isfinite(probs).all():  # else the run is marked diverged below
                record.update(_validation_metrics(fitted, draws))
                record.update(write_uncertainty(run_dir, data, probs, cfg.analysis))
                if cfg.ood is not None:
                    record.update(write_ood(run_dir, fitted, draws=draws, probs=probs))
        record["predict_seconds"] = time.perf_counter() - t_pred
        laps("analysis")
        if not all(np.isfinite(v) for v in metrics.values()):
            record["status"] = "diverged"
            bad = sorted(k for k, v in metrics.items() if not np.isfinite(v))
            record["error"] = f"non-finite metrics: {', '.join(bad)}"
        record = {"status": record.pop("status"), **metrics, **record}
        if program is not None:
            write_inference_data(run_dir, fitted, draws)
            laps("inference_data")
        if data.input_shape == (2,) and not fitted.is_regression:
            write_maps(run_dir, fitted, draws)
            laps("maps")
        write_weights(run_dir, fitted, draws)
        laps("weights_figure")
    record.update(
        task=data.task,
        **_data_record(data),
        num_train=len(data.y_train),
        num_test=len(data.y_test),
        total_seconds=time.perf_counter() - t0,
        stage_seconds=laps.seconds,
        backend=jax.default_backend(),
        versions={"bnnrun": __version__, "jax": jax.__version__},
        config=asdict(cfg),
    )
    rundir.write_json(run_dir / rundir.METRICS, record)
    # The run is finished: its checkpoint could only resume what is already done.
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
    return record


def _data_record(data: Dataset) -> dict[str, Any]:
    """What the data decided and how they were prepared, for ``metrics.json``."""
    record: dict[str, Any] = {}
    if data.is_regression:
        record.update(target_loc=data.y_loc, target_scale=data.y_scale)
    else:  # a sweep's figures draw chance level, 1 / num_classes
        record["num_classes"] = data.num_classes
        if data.class_names is not None:
            record["class_names"] = list(data.class_names)
    if data.num_dropped:
        record["num_dropped_rows"] = data.num_dropped
    return record


def _fit_parts(fit: FitResult, warm: FitResult | None) -> dict[str, float]:
    """The seconds of the fit (and its warm start) spent initialising, compiling and
    stepping."""
    fits = [fit] if warm is None or warm is fit else [warm, fit]
    return {
        "svi_init": sum(f.init_seconds for f in fits),
        "compile": sum(f.compile_seconds for f in fits),
        "steps": sum(f.run_seconds for f in fits),
    }


def _warm_start_record(warm: FitResult | None) -> dict[str, Any]:
    if warm is None:
        return {}
    return {
        "warm_start_steps": warm.num_steps,
        "warm_start_seconds": warm.fit_seconds,
        "warm_start_log_joint_final": float(warm.elbo[-ELBO_FINAL_WINDOW:].mean()),
    }


def _validation_metrics(fitted: FittedRun, draws: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy, NLL and ECE on the validation split (``val_*``), if the data set has one."""
    data = fitted.data
    if data.x_val is None or len(data.y_val) == 0:
        return {}
    metrics = classification_metrics(fitted.probs(draws, data.x_val), data.y_val)
    return {f"val_{k}": metrics[k] for k in ("accuracy", "nll", "ece")}
