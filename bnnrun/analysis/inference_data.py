"""Posterior samples as ArviZ InferenceData (saved as ``posterior.nc``), and MCMC diagnostics.

SVI runs export the guide's draws that the metrics used (one chain); NUTS runs export every
chain with the sampler's statistics and the pointwise log likelihood (ArviZ's NumPyro
converter). Each latent site is one variable, named as in the model (``layer1.w``, ...).
"""

from __future__ import annotations

import logging
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

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


def from_draws(draws: dict[str, np.ndarray], *, y_observed: np.ndarray) -> az.InferenceData:
    """InferenceData of ``draws`` ``{site: [S, *shape]}`` as one chain of S draws.

    Sites NumPyro's guides add for themselves (``_auto_latent``) are left out.
    """
    posterior = {k: np.asarray(v)[None] for k, v in draws.items() if not k.startswith("_")}
    return _arviz().from_dict(posterior=posterior, observed_data={"y": np.asarray(y_observed)})


def from_mcmc(mcmc: Any) -> az.InferenceData:
    """InferenceData of a finished NumPyro ``MCMC`` run: posterior, sample_stats,
    log_likelihood (pointwise, for ArviZ's LOO and WAIC) and observed_data.

    ``dims={}`` skips the converter's dimension inference, which fails on a second conversion
    in one process (a sweep); the sites' dimensions are then named ``<site>_dim_<i>``.
    """
    return _arviz().from_numpyro(mcmc, dims={})


def diagnostics(idata: az.InferenceData) -> pd.DataFrame:
    """Per scalar parameter: mean, sd, bulk and tail effective sample size and rank-normalised
    split R-hat (ArviZ's ``summary``), indexed like ``layer1.w[0, 1]``."""
    return _arviz().summary(idata, kind="all", round_to="none")
