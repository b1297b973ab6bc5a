"""NUTS over the same model as SVI: NumPyro's No-U-Turn sampler, the reference posterior.

Exact up to Monte Carlo error, and affordable for small networks (the paper's 2-5-5-2 net has
57 parameters). The chains start where the guides' means do (:func:`init_to_network_default`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS

from bnnrun.config import NUTSConfig
from bnnrun.inference.guides import init_to_network_default
from bnnrun.model.hparams import HyperParams

#: Per-draw statistics kept from the sampler (the energies are for ArviZ's BFMI and energy plot).
EXTRA_FIELDS = ("diverging", "accept_prob", "num_steps", "energy", "potential_energy")


class NUTSResult(NamedTuple):
    """What a NUTS run returns.

    Attributes:
        samples: ``{site: [num_chains, num_samples, *shape]}`` kept draws of every latent site.
        stats: ``{field: [num_chains, num_samples]}`` per-draw sampler statistics
            (``diverging``, ``accept_prob``, ``num_steps`` = leapfrog steps, ``energy``,
            ``potential_energy``).
        mcmc: the NumPyro ``MCMC`` object (for ArviZ's converter).
        run_seconds: wall time of warm-up and sampling, compilation included.
    """

    samples: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    mcmc: MCMC
    run_seconds: float

    def flat_samples(self) -> dict[str, np.ndarray]:
        """``{site: [num_chains * num_samples, *shape]}``, chain after chain."""
        return {k: v.reshape(-1, *v.shape[2:]) for k, v in self.samples.items()}


def fit_nuts(
    model: Callable[..., Any],
    x: np.ndarray,
    y: np.ndarray,
    hp: HyperParams,
    *,
    key: jax.Array,
    cfg: NUTSConfig,
    progress: bool = False,
) -> NUTSResult:
    """Sample ``model(x, y, hp)``'s posterior with NUTS as ``cfg`` says."""
    kernel = NUTS(
        model,
        init_strategy=partial(init_to_network_default),
        target_accept_prob=cfg.target_accept_prob,
        max_tree_depth=cfg.max_tree_depth,
        dense_mass=cfg.dense_mass,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=cfg.num_warmup,
        num_samples=cfg.num_samples,
        num_chains=cfg.num_chains,
        chain_method=cfg.chain_method.value,
        progress_bar=progress,
    )
    t0 = time.perf_counter()
    mcmc.run(key, jnp.asarray(x), jnp.asarray(y), hp, extra_fields=EXTRA_FIELDS)
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    seconds = time.perf_counter() - t0
    stats = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    return NUTSResult(samples=samples, stats=stats, mcmc=mcmc, run_seconds=seconds)
