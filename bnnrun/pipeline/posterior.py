"""A fitted posterior, by SVI or by NUTS: draws from it, its point estimate, and its predictive.

:class:`SVIRun` holds an autoguide's parameters; :class:`NUTSRun` holds samples. Both give
posterior draws by each weight's own name (a non-centred model's derived weights included), so
everything after the fit treats them alike.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import numpy as np

from bnnrun.analysis.predictive import (
    chunk_sizes,
    predictive_outputs,
    resolve_sample_chunk,
    sample_guide,
)
from bnnrun.config import Config
from bnnrun.data import Dataset
from bnnrun.inference.guides import guide_median
from bnnrun.inference.program import SVIProgram
from bnnrun.model.bnn import BNN
from bnnrun.model.hparams import HyperParams
from bnnrun.model.likelihoods import NOISE_SITE, location_scale
from bnnrun.model.nets import Network
from bnnrun.pipeline.build import guide_for
from bnnrun.runtime import RUN_ONCE


class LocScale(NamedTuple):
    """A regression predictive: a mixture over S posterior draws of a location-scale
    distribution of y per input (Normal, or Student-t with ``df``), in original units.

    Attributes:
        loc: ``[S, N]`` location (the mean) of y under each draw.
        scale: ``[S, N]`` scale (the noise standard deviation for a Normal) under each draw.
        df: the Student-t's degrees of freedom, or None for a Normal.
    """

    loc: np.ndarray
    scale: np.ndarray
    df: float | None


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

    @property
    def is_regression(self) -> bool:
        """Whether the run's target is continuous (a regression likelihood)."""
        return self.model.likelihood != "categorical"

    def probs(self, draws: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """Predictive class probabilities ``[S, N, C]`` at inputs ``x`` ``[N, *input_shape]``,
        one row per draw of ``draws``."""
        return self.outputs(draws, x, softmax=True)

    def loc_scale(self, draws: dict[str, np.ndarray], x: np.ndarray) -> LocScale:
        """A regression run's predictive at inputs ``x`` ``[N, *input_shape]``: each draw's
        location and scale ``[S, N]`` of y, in the target's original units."""
        out = self.outputs(draws, x)
        precision = draws.get(NOISE_SITE) if self.model.learned_noise else None
        loc, scale = location_scale(
            self.model.likelihood, out, self.hp["likelihood"], precision=precision
        )
        d = self.data
        return LocScale(
            loc=np.asarray(loc, np.float64) * d.y_scale + d.y_loc,
            scale=np.asarray(scale, np.float64) * d.y_scale,
            df=float(self.hp["likelihood"]["df"]) if self.model.likelihood == "student_t" else None,
        )

    def outputs(
        self, draws: dict[str, np.ndarray], x: np.ndarray, *, softmax: bool = False
    ) -> np.ndarray:
        """The network's output ``[S, N, K]`` at inputs ``x`` under each draw (``softmax``:
        class probabilities), in memory-bounded chunks (``cfg.analysis``)."""
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
        return predictive_outputs(
            self.net, draws, x, data_chunk=data_chunk, sample_chunk=sample_chunk, softmax=softmax
        )

    def predictive(
        self, x: np.ndarray, *, num_samples: int | None = None, seed: int | None = None
    ) -> np.ndarray | LocScale:
        """The posterior predictive at ``x`` ``[N, *input_shape]`` over S = ``num_samples``
        draws (default: as many as the run used): class probabilities ``[S, N, C]``, or for a
        regression each draw's :class:`LocScale` of y ``[S, N]`` in original units.

        ``seed`` None draws what the run drew for its metrics (the key
        ``split(PRNGKey(cfg.seed))[1]``); an integer draws afresh from ``PRNGKey(seed)``."""
        num = self.default_num_draws if num_samples is None else num_samples
        if seed is None:
            key = jax.random.split(jax.random.PRNGKey(self.cfg.seed))[1]
        else:
            key = jax.random.PRNGKey(seed)
        draws = self.draws(key=key, num_samples=num)
        return self.loc_scale(draws, x) if self.is_regression else self.probs(draws, x)


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
        return (jax.device_put(self.data.x_train), jax.device_put(self.data.y_train), self.hp)

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
