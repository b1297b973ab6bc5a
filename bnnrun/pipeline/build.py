"""From a config and its data to a model: the network, the NumPyro model, its numbers, and the
compiled SVI program that fits it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np

from bnnrun.config import Config, GuideName, InformedPriorConfig
from bnnrun.config.likelihood import (
    LikelihoodKind,
    NoiseMode,
    check_likelihood,
    resolve_likelihood,
)
from bnnrun.data import Dataset
from bnnrun.errors import ConfigError
from bnnrun.inference.epochs import total_steps
from bnnrun.inference.guides import build_guide
from bnnrun.inference.objective import at_step, build_elbo, kl_weighted, objective_hparams
from bnnrun.inference.optimizer import build_optimizer
from bnnrun.inference.program import SVIProgram, cached_program
from bnnrun.model.bnn import BNN
from bnnrun.model.hparams import HyperParams, model_hparams
from bnnrun.model.informed import informed_layers, load_centres
from bnnrun.model.likelihoods import output_size
from bnnrun.model.nets import Network, build_network, num_params
from bnnrun.model.priors import distribution_family

#: The full-rank guide stores a D x D covariance; above this many latent values it is refused.
MVN_MAX_LATENT = 10_000


class Built(NamedTuple):
    """What a config builds on its data.

    Attributes:
        net: the network, a pure function of its parameter pytree.
        model: the NumPyro model, called as ``model(x, y, hp)``.
        hp: the model's numbers (prior, hyperprior, objective, informed centres).
        program: the compiled SVI program (shared by every run of the same structure), or
            None for NUTS.
    """

    net: Network
    model: BNN
    hp: HyperParams
    program: SVIProgram | None


def guide_for(model: BNN, cfg: Config) -> Any:
    """The autoguide that ``cfg.inference`` names, over ``model``."""
    inf = cfg.inference
    return build_guide(model, name=inf.guide, init_scale=inf.init_scale, rank=inf.rank)


def likelihood_of(cfg: Config, data: Dataset) -> Any:
    """The run's likelihood config for its data's task (``auto`` resolved).

    Raises:
        InvalidCombination: the likelihood does not fit the task (a table whose task the data
            decided).
    """
    check_likelihood(cfg.likelihood.kind, task=data.task, dataset=data.name)
    return resolve_likelihood(cfg.likelihood, task=data.task)


def _objective(cfg: Config) -> dict[str, jax.Array]:
    inf = cfg.inference
    if inf.method == "nuts":
        return objective_hparams(temperature=inf.temperature)
    return objective_hparams(
        beta=inf.beta, beta_warmup_steps=inf.beta_warmup_steps, temperature=inf.temperature
    )


def build(
    cfg: Config,
    data: Dataset,
    *,
    centres: Mapping[str, np.ndarray] | None = None,
    read_run: Callable[[Any], dict[str, np.ndarray]] | None = None,
) -> Built:
    """The network, NumPyro model, its numbers and the (cached) SVI program of ``cfg``.

    Args:
        centres: an informed prior's centres ``{site: array}``; default: read from
            ``cfg.prior.source`` with ``read_run``.
        read_run: the point estimate ``{site: array}`` of a finished run directory (an
            informed prior's source); required for an informed prior without ``centres``.
    """
    likelihood = likelihood_of(cfg, data)
    net = build_network(
        cfg.architecture,
        input_shape=data.input_shape,
        num_classes=output_size(likelihood.kind.value, num_classes=data.num_classes),
    )
    inf = cfg.inference
    informed = None
    if isinstance(cfg.prior, InformedPriorConfig):
        informed = informed_layers(cfg.prior, net.param_shapes())
        if centres is None:
            if read_run is None:
                raise ValueError("an informed prior needs its centres, or read_run to read them")
            centres = load_centres(cfg.prior, net.param_shapes(), informed, read_run=read_run)
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
        likelihood=likelihood.kind.value,
        learned_noise=getattr(likelihood, "noise", None) == NoiseMode.learned,
    )
    hp = model_hparams(
        cfg.prior,
        cfg.hyperprior,
        objective=_objective(cfg),
        centres=centres,
        likelihood=None if likelihood.kind is LikelihoodKind.categorical else likelihood,
    )
    if inf.method == "nuts":
        return Built(net=net, model=model, hp=hp, program=None)
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
        guide = guide_for(model, cfg)
        return SVIProgram(
            model,
            guide,
            build_optimizer(inf.optimizer, num_steps=steps),
            loss=build_elbo(inf.elbo, num_particles=inf.num_particles),
            loss_guide=kl_weighted(guide),
            hp_at_step=at_step,
        )

    return Built(net=net, model=model, hp=hp, program=cached_program(key, make))
