"""The NumPyro model: network + prior + hyperprior + likelihood.

This is the one place where NumPyro meets the network. :class:`BNN` is a frozen dataclass and
callable as a NumPyro model; it holds only the model's *structure*, so two runs that differ in
numbers alone (a prior scale, a hyperprior rate) share one model and one compiled program. The
numbers travel as the ``hp`` argument, a pytree of float32 arrays
(:class:`~bnnrun.model.hparams.HyperParams`).

The objective's weights (see :mod:`bnnrun.inference.objective`) enter here: the prior sites
are scaled by the KL weight ``hp["objective"]["kl_weight"]`` and the likelihood by
``1 / hp["objective"]["temperature"]``, with NumPyro's ``scale`` handler. Both are 1 by default,
and NUTS samples the posterior with the likelihood tempered the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
from numpyro import handlers
from numpyro.infer.reparam import LocScaleReparam

from bnnrun.model.hparams import HyperParams
from bnnrun.model.hyperpriors import scale_distribution
from bnnrun.model.likelihoods import NOISE_SITE, noise_prior, observation
from bnnrun.model.nets import Network
from bnnrun.model.priors import prior_distribution


def site_name(layer: str, role: str) -> str:
    """Sample-site name of a parameter, e.g. ``layer1.w``; its scale is ``layer1.w_scale``."""
    return f"{layer}.{role}"


@dataclass(frozen=True)
class BNN:
    """A Bayesian neural network (a classifier or a regression) as a NumPyro model.

    Attributes:
        net: the network (pure function of parameters and inputs).
        prior: prior family name (``normal``, ``laplace``, ``cauchy``, ``student_t``, ``flat``).
        hyperprior: ``fixed`` or the name of a distribution over each layer's scales.
        num_data: size N of the full training set (the likelihood is scaled to N).
        batch_size: if set, each evaluation uses a random subsample of this many points.
        informed: for an informed prior, the layers whose prior is centred on
            ``hp["centres"]`` (with scale ``hp["prior"]["scale"]``); the other layers get
            ``prior(loc, default_scale)``. None: not an informed prior.
        given_batches: if true, ``x`` and ``y`` are one minibatch of the N training points,
            chosen outside the model (e.g. an epoch's shuffled batch); the plate keeps size N,
            so the batch's log likelihood is scaled by N / len(x). Excludes ``batch_size``.
        likelihood: the observation model (:mod:`bnnrun.model.likelihoods`):
            ``categorical``, ``gaussian``, ``student_t`` or ``heteroscedastic``.
        learned_noise: for ``gaussian`` and ``student_t``, sample the noise precision at site
            ``noise_precision`` under ``hp["likelihood"]``'s Gamma prior; else the noise is
            ``hp["likelihood"]["scale"]``.
        noncentered: with a learned scale s, sample each parameter as ``z ~ prior(0, 1)`` at
            site ``<site>_decentered`` and record ``<site> = loc + s * z`` as a deterministic
            site (NumPyro's ``LocScaleReparam``). The model is the same; a mean-field guide
            over (s, z) is not, and can fit a hierarchical posterior better (docs/inference.md).
    """

    net: Network
    prior: str
    hyperprior: str
    num_data: int
    batch_size: int | None = None
    informed: tuple[str, ...] | None = None
    given_batches: bool = False
    noncentered: bool = False
    likelihood: str = "categorical"
    learned_noise: bool = False

    def __post_init__(self) -> None:
        if self.given_batches and self.batch_size is not None:
            raise ValueError("BNN: given_batches and batch_size exclude each other")

    def __call__(self, x: jax.Array, y: jax.Array | None, hp: HyperParams) -> None:
        """Args: ``x`` ``[N, *input_shape]`` (or ``[B, ...]`` with ``given_batches``); ``y``
        ``[N]`` (int class labels, or float standardised targets for regression) or None;
        ``hp`` hyperparameters."""
        objective = hp["objective"]
        with handlers.scale(scale=objective["kl_weight"]):
            params = self.sample_params(hp)
            precision = None
            if self.learned_noise:
                precision = numpyro.sample(NOISE_SITE, noise_prior(hp["likelihood"]))
        if self.given_batches:
            # The batch was chosen outside: the plate needs only its size for the N / B scale.
            # Fixed indices spare NumPyro's random draw of B of N (slow to compile on CPU).
            size = x.shape[0]
            with (
                handlers.substitute(data={"data": jnp.arange(size)}),
                numpyro.plate("data", self.num_data, subsample_size=size),
            ):
                self._likelihood(params, x, y, hp, precision)
            return
        with numpyro.plate("data", self.num_data, subsample_size=self.batch_size) as idx:
            if self.batch_size is not None:
                x = x[idx]
                y = None if y is None else y[idx]
            self._likelihood(params, x, y, hp, precision)

    def _likelihood(
        self,
        params: Any,
        x: jax.Array,
        y: jax.Array | None,
        hp: HyperParams,
        precision: jax.Array | None,
    ) -> None:
        out = self.net.apply(params, x)
        obs = observation(self.likelihood, out, hp.get("likelihood", {}), precision=precision)
        with handlers.scale(scale=1.0 / hp["objective"]["temperature"]):
            numpyro.sample("y", obs, obs=y)

    def sample_params(self, hp: HyperParams) -> dict[str, dict[str, jax.Array]]:
        """Sample sites for every weight and bias (and their scales) in network order."""
        params: dict[str, dict[str, jax.Array]] = {}
        for layer, roles in self.net.param_shapes().items():
            params[layer] = {}
            for role, shape in roles.items():
                site = site_name(layer, role)
                loc = scale = None
                if self.informed is not None and layer in self.informed:
                    loc = hp["centres"][site]
                elif self.informed is not None:
                    scale = hp["prior"]["default_scale"]
                scale_prior = scale_distribution(self.hyperprior, hp["hyperprior"])
                if scale_prior is not None:
                    scale = numpyro.sample(f"{site}_scale", scale_prior)
                prior = prior_distribution(
                    self.prior, hp["prior"], shape=shape, scale=scale, loc=loc
                )
                if scale_prior is not None and self.noncentered:
                    shape_params = ("df",) if self.prior == "student_t" else ()
                    reparam = LocScaleReparam(centered=0, shape_params=shape_params)
                    with handlers.reparam(config={site: reparam}):
                        params[layer][role] = numpyro.sample(site, prior)
                else:
                    params[layer][role] = numpyro.sample(site, prior)
        return params

    def derived_params(self, draws: Mapping[str, Any], hp: HyperParams) -> dict[str, jax.Array]:
        """The deterministic parameter sites (e.g. ``layer1.w`` of a non-centred model) at
        latent values ``draws`` ``{site: [*shape]}``: one draw, no leading sample axis
        (``jax.vmap`` it over draws)."""
        tr = handlers.trace(
            handlers.substitute(handlers.seed(self.sample_params, 0), data=dict(draws))
        ).get_trace(hp)
        return {k: v["value"] for k, v in tr.items() if v["type"] == "deterministic"}


def params_from_sites(net: Network, sites: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Gather ``{"layer1.w": ...}`` site values into the network's ``{layer: {role: ...}}``."""
    return {
        layer: {role: sites[site_name(layer, role)] for role in roles}
        for layer, roles in net.param_shapes().items()
    }


def sites_from_params(params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The inverse of :func:`params_from_sites`."""
    return {
        site_name(layer, role): v for layer, roles in params.items() for role, v in roles.items()
    }
