"""Schemas of ``conf/likelihood/``: how the network's output explains the observed target.

``auto`` (the default) is ``categorical`` for a classification data set and ``gaussian`` with a
learned noise for a regression one. Regression likelihoods see the target standardised on the
training split; their noise settings are in those standardised units (1.0 = one standard
deviation of the training targets).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

from bnnrun.config.checks import require
from bnnrun.errors import InvalidCombination


class LikelihoodKind(StrEnum):
    auto = "auto"
    categorical = "categorical"
    gaussian = "gaussian"
    heteroscedastic = "heteroscedastic"
    student_t = "student_t"


#: The likelihoods of each task (``auto`` fits both).
TASK_LIKELIHOODS: dict[str, tuple[LikelihoodKind, ...]] = {
    "classification": (LikelihoodKind.categorical,),
    "regression": (
        LikelihoodKind.gaussian,
        LikelihoodKind.heteroscedastic,
        LikelihoodKind.student_t,
    ),
}


class NoiseMode(StrEnum):
    learned = "learned"
    fixed = "fixed"


@dataclass
class AutoLikelihoodConfig:
    """The task's own likelihood: ``categorical`` for classification, ``gaussian`` with a
    learned noise (its defaults) for regression.

    Attributes:
        kind: The likelihood (set by the option).
    """

    kind: LikelihoodKind = LikelihoodKind.auto


@dataclass
class CategoricalLikelihoodConfig:
    """``y ~ Categorical(softmax(f(x)))``: the network outputs one logit per class.

    Attributes:
        kind: The likelihood (set by the option).
    """

    kind: LikelihoodKind = LikelihoodKind.categorical


@dataclass
class GaussianLikelihoodConfig:
    """``y ~ Normal(f(x), sigma)`` with one observation noise sigma for every point.

    Learned, the noise precision ``1 / sigma^2`` has a Gamma(concentration, rate) prior (PBP,
    Hernández-Lobato & Adams 2015, uses Gamma(6, 6)) and a posterior like every weight's.

    Attributes:
        kind: The likelihood (set by the option).
        noise: ``learned`` (a latent precision under its Gamma prior) or ``fixed`` (``scale``).
        scale: The fixed noise standard deviation, in standardised target units.
        concentration: Concentration (shape) of the Gamma prior on the noise precision.
        rate: Rate of the Gamma prior on the noise precision; its mean is
            ``concentration / rate``.
    """

    kind: LikelihoodKind = MISSING
    noise: NoiseMode = NoiseMode.learned
    scale: float = 0.1
    concentration: float = 6.0
    rate: float = 6.0

    def __post_init__(self) -> None:
        require(self.scale > 0, "likelihood.scale", "> 0", self.scale)
        require(self.concentration > 0, "likelihood.concentration", "> 0", self.concentration)
        require(self.rate > 0, "likelihood.rate", "> 0", self.rate)


@dataclass
class StudentTLikelihoodConfig(GaussianLikelihoodConfig):
    """``y ~ StudentT(df, f(x), sigma)``: robust regression; the noise as for ``gaussian``.

    Attributes:
        df: Degrees of freedom of the Student-t (smaller: heavier tails).
    """

    df: float = 4.0

    def __post_init__(self) -> None:
        super().__post_init__()
        # df > 2: a finite variance, which the epistemic/aleatoric split and CRPS need.
        require(self.df > 2, "likelihood.df", "> 2", self.df)


@dataclass
class HeteroscedasticLikelihoodConfig:
    """``y ~ Normal(f_1(x), softplus(f_2(x)) + min_scale)``: the network outputs a mean and a
    scale per input, so the noise varies with x.

    Attributes:
        kind: The likelihood (set by the option).
        min_scale: Floor of the predicted noise standard deviation, in standardised target
            units; keeps the likelihood finite where the network predicts no noise.
    """

    kind: LikelihoodKind = LikelihoodKind.heteroscedastic
    min_scale: float = 1e-3

    def __post_init__(self) -> None:
        require(self.min_scale > 0, "likelihood.min_scale", "> 0", self.min_scale)


def resolve_likelihood(cfg: Any, *, task: str) -> Any:
    """The concrete likelihood config of ``cfg`` for a ``task`` target: ``cfg`` itself, or
    for ``auto`` the task's own likelihood with its defaults."""
    if cfg.kind is not LikelihoodKind.auto:
        return cfg
    if task == "classification":
        return CategoricalLikelihoodConfig()
    return GaussianLikelihoodConfig(kind=LikelihoodKind.gaussian)


def check_likelihood(kind: LikelihoodKind, *, task: str, dataset: str) -> None:
    """Raise :class:`InvalidCombination` if likelihood ``kind`` cannot explain a ``task``
    target (``classification`` or ``regression``) of ``dataset``."""
    allowed = TASK_LIKELIHOODS[task]
    if kind is LikelihoodKind.auto or kind in allowed:
        return
    raise InvalidCombination(
        f"likelihood={kind.value} does not fit dataset={dataset}, a {task} task: use "
        f"likelihood={' or '.join(k.value for k in allowed)} (or auto)"
    )
