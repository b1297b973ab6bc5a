"""Posterior samples as ArviZ InferenceData (saved as ``posterior.nc``), and MCMC diagnostics.

SVI runs export the guide's draws that the metrics used (one chain); NUTS runs export every
chain with the sampler's statistics (ArviZ's NumPyro converter). Each latent site is one
variable, named as in the model (``layer1.w``, ...). Both write ``observed_data``, the training
targets the posterior was fitted to, and a ``log_likelihood`` group over the same points: each
draw's log density of each training target (:func:`pointwise_log_likelihood`), what ArviZ's
converter computes for NUTS, so that ``az.loo`` (PSIS-LOO) and ``az.compare`` rank any runs
fitted to the same data.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import warnings
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from bnnrun.model.likelihoods import observation

if TYPE_CHECKING:
    import arviz as az
    import pandas as pd


def _arviz() -> ModuleType:
    """ArviZ, imported on first use: it loads SciPy's statistics, xarray and pandas, which
    take most of a second and which nothing else in a run needs."""
    # ArviZ 0.x announces its 1.0 refactor on import (a warning, and log lines about optional
    # preview packages); 1.x has another API and needs Python >= 3.12.
    logging.getLogger("arviz.preview").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="\\s*ArviZ is undergoing", category=FutureWarning)
        import arviz

    return arviz


#: The observed site of bnnrun's model, and so the ``log_likelihood`` group's variable.
OBSERVED_SITE = "y"
#: The dimension over the training points, of ``observed_data`` and ``log_likelihood`` alike.
TRAIN_POINT = "train_point"
#: Attribute of the ``log_likelihood`` group: a digest of the training set the posterior was
#: fitted to (:func:`digest_of_training_set`); runs compare by ELPD-LOO only on the same one.
OBSERVED_DATA_ATTR = "observed_data_sha256"


def from_draws(
    draws: dict[str, np.ndarray],
    *,
    y_observed: np.ndarray,
    log_likelihood: np.ndarray | None = None,
    observed_digest: str | None = None,
) -> az.InferenceData:
    """InferenceData of ``draws`` ``{site: [S, *shape]}`` as one chain of S draws.

    Sites NumPyro's guides add for themselves (``_auto_latent``) are left out. ``y_observed``
    ``[N]``: the targets the posterior was fitted to (``observed_data``, as the model saw
    them). ``log_likelihood`` ``[S, N]``: each draw's log density of each of them, written as
    the ``log_likelihood`` group (:func:`with_log_likelihood`) with ``observed_digest``
    (:func:`digest_of_training_set`) as its attribute.
    """
    posterior = {k: np.asarray(v)[None] for k, v in draws.items() if not k.startswith("_")}
    idata = _arviz().from_dict(
        posterior=posterior,
        observed_data={OBSERVED_SITE: np.asarray(y_observed)},
        dims={OBSERVED_SITE: [TRAIN_POINT]},
    )
    if log_likelihood is not None:
        idata = with_log_likelihood(
            idata, np.asarray(log_likelihood)[None], observed_digest=observed_digest
        )
    return idata


def from_mcmc(
    mcmc: Any, *, log_likelihood: np.ndarray | None = None, observed_digest: str | None = None
) -> az.InferenceData:
    """InferenceData of a finished NumPyro ``MCMC`` run: posterior, sample_stats and
    observed_data (the training targets, dim ``train_point``); with ``log_likelihood``
    ``[chains, draws, N]`` also the ``log_likelihood`` group, as :func:`from_draws` writes it.

    ``dims={}`` skips the converter's dimension inference, which fails on a second conversion
    in one process (a sweep); the sites' dimensions are then named ``<site>_dim_<i>``. The
    converter's own log likelihood is left out: it evaluates every draw on every training
    point at once, where :func:`pointwise_log_likelihood` computes the same numbers in chunks.
    """
    idata = _arviz().from_numpyro(mcmc, dims={}, log_likelihood=False)
    idata = idata.rename({f"{OBSERVED_SITE}_dim_0": TRAIN_POINT}, groups="observed_data")
    if log_likelihood is not None:
        idata = with_log_likelihood(idata, log_likelihood, observed_digest=observed_digest)
    return idata


def with_log_likelihood(
    idata: az.InferenceData, log_likelihood: np.ndarray, *, observed_digest: str | None
) -> az.InferenceData:
    """``idata`` with the ``log_likelihood`` group ``{"y": [chains, draws, N]}`` (float64),
    dims ``(chain, draw, train_point)`` as ``observed_data``'s ``y``, and the training set's
    digest as its attribute ``observed_data_sha256``."""
    ll = np.asarray(log_likelihood, np.float64)
    if ll.ndim != 3:
        raise ValueError(f"log_likelihood must be [chains, draws, N], not {ll.shape}")
    if "observed_data" in idata.groups():
        n_obs = idata.observed_data[OBSERVED_SITE].shape[0]
        if ll.shape[-1] != n_obs:  # LOO needs one column per observed point
            raise ValueError(f"log_likelihood has {ll.shape[-1]} points, observed_data {n_obs}")
    group = _arviz().from_dict(
        log_likelihood={OBSERVED_SITE: ll}, dims={OBSERVED_SITE: [TRAIN_POINT]}
    )
    if observed_digest is not None:
        group.log_likelihood.attrs[OBSERVED_DATA_ATTR] = observed_digest
    idata.extend(group)
    return idata


def pointwise_log_likelihood(
    outputs: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    kind: str,
    hp: Mapping[str, Any],
    precision: np.ndarray | None = None,
    chunk: int,
) -> np.ndarray:
    """Each posterior draw's log density of each target: ``log p(y_n | x_n, theta_s)``, as
    NumPyro's ``infer.log_likelihood`` gives it at the model's observed site (and so ArviZ's
    converter): the likelihood's density untempered, of ``y`` in the units given.

    Args:
        outputs: the network's output ``[S, n, K]`` at inputs ``[n, *input_shape]`` under
            each of S draws (e.g. :meth:`bnnrun.pipeline.posterior.FittedRun.outputs`).
        x: inputs ``[N, *input_shape]``; ``y``: their targets ``[N]`` as the model saw them
            (class labels, or standardised regression targets).
        kind: the likelihood (``categorical``, ``gaussian``, ``student_t``,
            ``heteroscedastic``); ``hp``: its numbers (``hp["likelihood"]``).
        precision: a learned noise precision ``[S]``, or None.
        chunk: inputs per call of ``outputs``: memory stays at ``[S, chunk, K]``.

    Returns:
        float64 ``[S, N]``.
    """
    prec = None if precision is None else jnp.asarray(precision)
    log_prob = _log_prob_fn(kind)
    parts = []
    for start in range(0, len(x), max(1, chunk)):
        out = jnp.asarray(outputs(x[start : start + chunk]))
        ll = log_prob(out, jnp.asarray(y[start : start + chunk]), dict(hp), prec)
        parts.append(np.asarray(ll, np.float64))
    return np.concatenate(parts, axis=1)


@functools.lru_cache(maxsize=8)
def _log_prob_fn(kind: str) -> Callable[..., jax.Array]:
    """The likelihood's log density of ``y`` given outputs, compiled once per likelihood: run
    op by op, its many small operations took seconds to dispatch."""

    def log_prob(out: jax.Array, y: jax.Array, hp: Any, precision: Any) -> jax.Array:
        return observation(kind, out, hp, precision=precision).log_prob(y)

    return jax.jit(log_prob)


def digest_of_training_set(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the training inputs ``x`` and targets ``y`` a posterior was fitted to, as the
    model saw them (values, dtypes and shapes): two runs' ELPD-LOO compare only where it is
    the same."""
    h = hashlib.sha256()
    for a in (x, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def diagnostics(idata: az.InferenceData) -> pd.DataFrame:
    """Per scalar parameter: mean, sd, bulk and tail effective sample size and rank-normalised
    split R-hat (ArviZ's ``summary``), indexed like ``layer1.w[0, 1]``."""
    return _arviz().summary(idata, kind="all", round_to="none")
