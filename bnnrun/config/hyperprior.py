"""Schemas of ``conf/hyperprior/``: a fixed scale, or one learned under a hyperprior."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from omegaconf import MISSING

from bnnrun.config.checks import require


class HyperpriorKind(StrEnum):
    fixed = "fixed"
    half_normal = "half_normal"
    half_cauchy = "half_cauchy"
    inverse_gamma = "inverse_gamma"


@dataclass
class FixedHyperpriorConfig:
    """A delta hyperprior: the prior's scale is the constant ``prior.scale``.

    Attributes:
        kind: The hyperprior (set by the option).
    """

    kind: HyperpriorKind = HyperpriorKind.fixed


@dataclass
class HalfHyperpriorConfig:
    """HalfNormal(scale) or HalfCauchy(scale) over each layer's prior scale.

    Attributes:
        kind: The hyperprior: ``half_normal`` or ``half_cauchy`` (set by the option).
        scale: Scale of the half-normal or half-Cauchy over each prior scale.
        noncentered: Sample each weight as ``z ~ prior(0, 1)`` and set ``w = loc + s * z``
            (NumPyro's ``LocScaleReparam``), instead of ``w ~ prior(loc, s)``.
    """

    kind: HyperpriorKind = MISSING
    scale: float = 1.0
    noncentered: bool = False

    def __post_init__(self) -> None:
        require(self.scale > 0, "hyperprior.scale", "> 0", self.scale)


@dataclass
class InverseGammaHyperpriorConfig:
    """InverseGamma(concentration, rate) over each layer's prior scale.

    Attributes:
        kind: The hyperprior (set by the option).
        concentration: Concentration (shape) of the inverse gamma.
        rate: Rate of the inverse gamma; its mean is ``rate / (concentration - 1)`` for a
            concentration above 1.
        noncentered: Sample each weight as ``z ~ prior(0, 1)`` and set ``w = loc + s * z``
            (NumPyro's ``LocScaleReparam``), instead of ``w ~ prior(loc, s)``.
    """

    kind: HyperpriorKind = HyperpriorKind.inverse_gamma
    concentration: float = 1.0
    rate: float = 1.0
    noncentered: bool = False

    def __post_init__(self) -> None:
        require(self.concentration > 0, "hyperprior.concentration", "> 0", self.concentration)
        require(self.rate > 0, "hyperprior.rate", "> 0", self.rate)
