"""Schemas of ``conf/inference/``: SVI (guide, objective, optimizer, epochs) and NUTS."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bnnrun.config.checks import require


class OptimizerName(StrEnum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"
    rmsprop = "rmsprop"
    adabelief = "adabelief"


class Schedule(StrEnum):
    constant = "constant"
    cosine = "cosine"
    exponential = "exponential"


@dataclass
class OptimizerConfig:
    """An optax optimizer. ``schedule`` decays ``lr`` to ``lr * final_lr_fraction`` by the end
    of the fit, after a linear warm-up of ``warmup_steps``; ``clip_norm`` clips the gradient.

    Attributes:
        name: The optax optimizer.
        lr: Learning rate: the constant rate, or the peak of a schedule.
        schedule: ``constant``, or a ``cosine`` or ``exponential`` decay from ``lr`` to
            ``lr * final_lr_fraction`` by the end of the fit.
        warmup_steps: Linear warm-up of the rate from 0 to ``lr`` over these first steps.
        final_lr_fraction: The decay schedules end at ``lr * final_lr_fraction``.
        clip_norm: Clip the gradient's global norm to this before each step; null: no
            clipping.
    """

    name: OptimizerName = OptimizerName.adam
    lr: float = 1e-2
    schedule: Schedule = Schedule.constant
    warmup_steps: int = 0
    final_lr_fraction: float = 0.01
    clip_norm: float | None = None

    def __post_init__(self) -> None:
        require(self.lr > 0, "inference.optimizer.lr", "> 0", self.lr)
        require(
            self.warmup_steps >= 0, "inference.optimizer.warmup_steps", ">= 0", self.warmup_steps
        )
        require(
            0 < self.final_lr_fraction <= 1,
            "inference.optimizer.final_lr_fraction",
            "in (0, 1]",
            self.final_lr_fraction,
        )
        if self.clip_norm is not None:
            require(
                self.clip_norm > 0, "inference.optimizer.clip_norm", "> 0 or null", self.clip_norm
            )


class GuideName(StrEnum):
    normal = "normal"  # AutoNormal: mean-field Gaussian
    lowrank = "lowrank"  # AutoLowRankMultivariateNormal
    mvn = "mvn"  # AutoMultivariateNormal: full-rank Gaussian
    delta = "delta"  # AutoDelta: a point estimate (MAP; MLE with the flat prior)


class ElboName(StrEnum):
    Trace_ELBO = "Trace_ELBO"
    TraceMeanField_ELBO = "TraceMeanField_ELBO"


class LoopStrategy(StrEnum):
    """How the host drives SVI steps: ``scan`` compiles chunks of steps into one ``lax.scan``,
    ``step`` calls one jitted step per minibatch from Python; ``auto`` picks by measurement."""

    auto = "auto"
    scan = "scan"
    step = "step"


@dataclass
class SVIConfig:
    """Stochastic variational inference with an autoguide, fitted by an optax optimizer.

    The objective is the ELBO with its KL term weighted by ``beta`` (reached by a linear ramp
    over ``beta_warmup_steps``) and the log likelihood divided by ``temperature``.
    ``checkpoint_every`` writes the whole SVI state to ``checkpoint.npz`` at the first chunk
    boundary after every that many steps (null: never), so ``resume=true`` can continue it.

    Attributes:
        method: The inference method (set by the option).
        guide: The autoguide: ``normal`` (mean-field Gaussian), ``lowrank`` (low-rank plus
            diagonal covariance), ``mvn`` (full-rank Gaussian), ``delta`` (a point estimate:
            MAP, or MLE with the flat prior).
        rank: Rank of the ``lowrank`` guide's covariance factor; null: NumPyro's default,
            about the square root of the number of latent values.
        elbo: The ELBO estimator: ``Trace_ELBO``, or ``TraceMeanField_ELBO`` (the KL term
            analytic where NumPyro has it).
        num_steps: SVI steps of the fit, unless ``num_epochs`` is set.
        num_particles: Monte Carlo samples of the ELBO per step.
        beta: Weight of the KL term in the objective.
        beta_warmup_steps: Ramp the KL weight linearly from ``beta / N`` to ``beta`` over the
            first N steps; 0: no ramp.
        temperature: The log likelihood is divided by this.
        init_scale: Initial standard deviation of the guide's Gaussians (unconstrained space).
        batch_size: Training points per step: an epoch's minibatch, or without ``num_epochs``
            a random subsample (the likelihood scaled to the full set); null: the full batch.
        num_predictive_samples: Posterior draws behind the predictive probabilities and every
            metric.
        chunk_size: Steps per chunk; between chunks the host checks for divergence and updates
            the progress bar.
        checkpoint_every: Write the SVI state to ``checkpoint.npz`` at the first chunk end
            after every this many steps, for ``resume=true``; null: never.
        optimizer: The optimizer and its learning-rate schedule (``inference.optimizer.*``).
        num_epochs: Fit by this many epochs of shuffled minibatches of ``batch_size`` instead
            of by ``num_steps``; null: by ``num_steps``.
        warm_start_epochs: Epochs of MAP (an ``AutoDelta`` fit) before SVI, whose estimate
            starts the guide's means; needs ``num_epochs``.
        loop: How an epoch fit drives its steps: ``scan`` (compiled chunks), ``step`` (one
            jitted step per minibatch), ``auto`` (``step`` for a CNN on CPU, else ``scan``).
        restarts: Fit this many initialisations (the run's seed, then seeds derived from it)
            as one program and keep the one with the best final ELBO; every restart's ELBO
            and headline metric go to ``metrics.json``. 1: a single fit. No checkpoints are
            written for more than one.
    """

    method: str = "svi"
    guide: GuideName = GuideName.normal
    rank: int | None = None
    elbo: ElboName = ElboName.Trace_ELBO
    num_steps: int = 50_000
    num_particles: int = 1
    beta: float = 1.0
    beta_warmup_steps: int = 0
    temperature: float = 1.0
    init_scale: float = 0.01
    batch_size: int | None = None
    num_predictive_samples: int = 500
    chunk_size: int = 1000
    checkpoint_every: int | None = 10_000
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    num_epochs: int | None = None
    warm_start_epochs: int = 0
    loop: LoopStrategy = LoopStrategy.auto
    restarts: int = 1

    def __post_init__(self) -> None:
        require(self.restarts >= 1, "inference.restarts", "an integer >= 1", self.restarts)
        if self.rank is not None:
            require(self.rank >= 1, "inference.rank", "an integer >= 1 or null", self.rank)
        require(self.beta > 0, "inference.beta", "> 0", self.beta)
        require(
            self.beta_warmup_steps >= 0,
            "inference.beta_warmup_steps",
            "an integer >= 0",
            self.beta_warmup_steps,
        )
        require(self.temperature > 0, "inference.temperature", "> 0", self.temperature)
        if self.checkpoint_every is not None:
            require(
                self.checkpoint_every >= 1,
                "inference.checkpoint_every",
                "an integer >= 1 or null",
                self.checkpoint_every,
            )
        require(self.num_steps >= 1, "inference.num_steps", "an integer >= 1", self.num_steps)
        if self.num_epochs is not None:
            require(
                self.num_epochs >= 1,
                "inference.num_epochs",
                "an integer >= 1 or null",
                self.num_epochs,
            )
        require(
            self.warm_start_epochs >= 0,
            "inference.warm_start_epochs",
            "an integer >= 0",
            self.warm_start_epochs,
        )
        require(
            self.warm_start_epochs == 0 or self.num_epochs is not None,
            "inference.warm_start_epochs",
            "0 unless inference.num_epochs is set (warm starts count epochs)",
            self.warm_start_epochs,
        )
        require(
            self.num_particles >= 1,
            "inference.num_particles",
            "an integer >= 1",
            self.num_particles,
        )
        require(self.init_scale > 0, "inference.init_scale", "> 0", self.init_scale)
        if self.batch_size is not None:
            require(
                self.batch_size >= 1,
                "inference.batch_size",
                "an integer >= 1 or null",
                self.batch_size,
            )
        require(
            self.num_predictive_samples >= 2,
            "inference.num_predictive_samples",
            "an integer >= 2",
            self.num_predictive_samples,
        )
        require(self.chunk_size >= 1, "inference.chunk_size", "an integer >= 1", self.chunk_size)


class ChainMethod(StrEnum):
    sequential = "sequential"
    vectorized = "vectorized"


@dataclass
class NUTSConfig:
    """NumPyro's NUTS sampler: the reference posterior for small networks.

    ``num_chains`` chains of ``num_warmup`` adaptation steps and ``num_samples`` kept draws;
    the predictive uses every kept draw. ``temperature`` divides the log likelihood, as in SVI.

    Attributes:
        method: The inference method (set by the option).
        num_warmup: Adaptation steps per chain (discarded).
        num_samples: Draws kept per chain.
        num_chains: Independent chains.
        chain_method: ``sequential``: one chain after another; ``vectorized``: all chains in
            one program.
        target_accept_prob: Acceptance probability that the step-size adaptation aims for.
        max_tree_depth: Maximum depth of a trajectory's tree: at most ``2^depth`` leapfrog
            steps per draw.
        dense_mass: Adapt a dense mass matrix (correlations; small networks only) instead of
            a diagonal one.
        temperature: The log likelihood is divided by this.
    """

    method: str = "nuts"
    num_warmup: int = 1000
    num_samples: int = 1000
    num_chains: int = 4
    chain_method: ChainMethod = ChainMethod.sequential
    target_accept_prob: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = False
    temperature: float = 1.0

    def __post_init__(self) -> None:
        require(self.num_warmup >= 1, "inference.num_warmup", "an integer >= 1", self.num_warmup)
        require(self.num_samples >= 2, "inference.num_samples", "an integer >= 2", self.num_samples)
        require(self.num_chains >= 1, "inference.num_chains", "an integer >= 1", self.num_chains)
        require(
            0 < self.target_accept_prob < 1,
            "inference.target_accept_prob",
            "in (0, 1)",
            self.target_accept_prob,
        )
        require(
            1 <= self.max_tree_depth <= 20,
            "inference.max_tree_depth",
            "an integer in [1, 20]",
            self.max_tree_depth,
        )
        require(self.temperature > 0, "inference.temperature", "> 0", self.temperature)
