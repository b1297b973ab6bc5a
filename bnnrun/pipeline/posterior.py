"""A fitted posterior, by SVI or by NUTS: draws from it, its point estimate, and its predictive.

:class:`SVIRun` holds an autoguide's parameters; :class:`NUTSRun` holds samples. Both give
posterior draws by each weight's own name (a non-centred model's derived weights included), so
everything after the fit treats them alike.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bnnrun.analysis.predictive import (
    chunk_sizes,
    predictive_probs,
    resolve_sample_chunk,
    sample_guide,
)
from bnnrun.config import Config
from bnnrun.data import Dataset
from bnnrun.inference.guides import guide_median
from bnnrun.inference.program import SVIProgram
from bnnrun.model.bnn import BNN
from bnnrun.model.hparams import HyperParams
from bnnrun.model.nets import Network
from bnnrun.pipeline.build import guide_for
from bnnrun.runtime import RUN_ONCE


@dataclass(frozen=True, eq=False)
class FittedRun:
    """What SVI and NUTS posteriors share: the run's config, data, network, model and numbers.

    Attributes:
        cfg: the run's config.
        data: the data it was fitted on.
        net: the network, a pure function ``net.apply(params, x)`` of a parameter pytree.
        model: the NumPyro model, called as ``model(x, y, hp)``.
        hp: the model's numbers.
    """

    cfg: Config
    data: Dataset
    net: Network
    model: BNN
    hp: HyperParams

    def draws(self, *, key: jax.Array, num_samples: int) -> dict[str, np.ndarray]:
        """Posterior draws ``{site: [S, *shape]}``."""
        raise NotImplementedError

    def point_estimate(self) -> dict[str, np.ndarray]:
        """``{site: array}`` of every latent site: the posterior mean, or a guide's median."""
        raise NotImplementedError

    @property
    def default_num_draws(self) -> int:
        """The number of draws the run predicted with."""
        raise NotImplementedError

    def probs(self, draws: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """Predictive class probabilities ``[S, N, C]`` at inputs ``x`` ``[N, *input_shape]``,
        one row per draw of ``draws``."""
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

    def predictive(
        self, x: np.ndarray, *, num_samples: int | None = None, seed: int = 0
    ) -> np.ndarray:
        """The posterior predictive at ``x`` ``[N, *input_shape]``: class probabilities
        ``[S, N, C]``, S = ``num_samples`` draws (default: as many as the run used)."""
        num = self.default_num_draws if num_samples is None else num_samples
        return self.probs(self.draws(key=jax.random.PRNGKey(seed), num_samples=num), x)


@dataclass(frozen=True, eq=False)
class SVIRun(FittedRun):
    """An SVI posterior: the ``program``'s autoguide at ``params``.

    Attributes:
        program: the compiled SVI program (model, guide, optimizer, loss).
        params: the guide's parameters ``{name: array}``.
    """

    program: SVIProgram
    params: dict[str, Any]

    @property
    def default_num_draws(self) -> int:
        return self.cfg.inference.num_predictive_samples

    def _model_args(self) -> tuple:
        return (jnp.asarray(self.data.x_train), jnp.asarray(self.data.y_train), self.hp)

    def draws(self, *, key: jax.Array, num_samples: int) -> dict[str, np.ndarray]:
        """``num_samples`` draws ``{site: [S, *shape]}`` from the guide."""
        latent = sample_guide(
            self.program.guide,
            self.params,
            key=key,
            num_samples=num_samples,
            model_args=self._model_args(),
        )
        return self._with_derived(latent, batched=True)

    def point_estimate(self) -> dict[str, np.ndarray]:
        """The guide's median of every latent site (the MAP value for a ``delta`` guide)."""
        # A fresh guide: guide_median sets it up inside its own trace.
        median = guide_median(guide_for(self.model, self.cfg), self.params, self._model_args())
        return self._with_derived(median, batched=False)

    def _with_derived(self, latent: dict[str, np.ndarray], *, batched: bool) -> dict[str, Any]:
        """``latent`` plus the parameters a non-centred model derives from it (``layer1.w``
        from ``layer1.w_decentered`` and ``layer1.w_scale``), so every later stage sees the
        network's weights by their own names."""
        if not self.model.noncentered:
            return latent
        derived = _derive_fn(self.model, batched)(latent, self.hp)
        return {**latent, **{k: np.asarray(v) for k, v in derived.items()}}


@dataclass(frozen=True, eq=False)
class NUTSRun(FittedRun):
    """A NUTS posterior: its samples ``{site: [S, *shape]}``, chains concatenated (derived
    weights of a non-centred model included).

    Attributes:
        samples: ``{site: [S, *shape]}``.
    """

    samples: dict[str, np.ndarray]

    @property
    def default_num_draws(self) -> int:
        return len(next(iter(self.samples.values())))

    def draws(self, *, key: jax.Array, num_samples: int) -> dict[str, np.ndarray]:
        """All samples, or ``num_samples`` of them evenly spaced if fewer (``key`` unused)."""
        total = self.default_num_draws
        if num_samples >= total:
            return self.samples
        keep = np.linspace(0, total - 1, num_samples).round().astype(int)
        return {k: v[keep] for k, v in self.samples.items()}

    def point_estimate(self) -> dict[str, np.ndarray]:
        """The posterior mean of every site."""
        return {k: v.mean(axis=0) for k, v in self.samples.items()}


@functools.lru_cache(maxsize=16)
def _derive_fn(model: BNN, batched: bool) -> Any:
    """:meth:`BNN.derived_params` compiled once per model structure (``batched``: over a
    leading axis of draws), so the runs of a sweep share it."""
    fn = jax.vmap(model.derived_params, in_axes=(0, None)) if batched else model.derived_params
    return jax.jit(fn, compiler_options=RUN_ONCE)
