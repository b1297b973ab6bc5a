"""Schemas of ``conf/prior/``: location-scale families, Student-t, flat and informed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from omegaconf import MISSING

from bnnrun.config.checks import require


class PriorFamily(StrEnum):
    normal = "normal"
    laplace = "laplace"
    cauchy = "cauchy"
    student_t = "student_t"
    flat = "flat"
    informed = "informed"


#: Families with a location and a scale: those an informed prior can centre on a source.
LOCATION_SCALE_FAMILIES = ("normal", "laplace", "cauchy", "student_t")


@dataclass
class ScaledPriorConfig:
    """A location-scale prior on every weight and bias: normal, laplace or cauchy.

    Attributes:
        family: The distribution: ``normal``, ``laplace`` or ``cauchy`` (set by the option).
        loc: Location of every weight's and bias's prior.
        scale: Scale of every weight's and bias's prior; a learned hyperprior replaces it.
    """

    family: PriorFamily = MISSING
    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        require(self.scale > 0, "prior.scale", "> 0", self.scale)


@dataclass
class StudentTPriorConfig(ScaledPriorConfig):
    """A Student-t prior, ``StudentT(df, loc, scale)``, on every weight and bias.

    Attributes:
        family: The distribution (set by the option).
        df: Degrees of freedom: the smaller, the heavier the tails.
    """

    family: PriorFamily = PriorFamily.student_t
    df: float = 3.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.df > 0, "prior.df", "> 0", self.df)


@dataclass
class FlatPriorConfig:
    """The improper uniform prior: log density 0 everywhere, no scale.

    Attributes:
        family: The distribution (set by the option).
    """

    family: PriorFamily = PriorFamily.flat


@dataclass
class InformedPriorConfig:
    """A prior centred on pretrained weights (transfer learning by an informed prior).

    Every weight and bias of the ``layers`` it informs gets ``distribution(w0, scale)``, where
    ``w0`` is that parameter's value in ``source``: a bnnrun run directory (its posterior means,
    or MAP values for a ``delta`` guide; sample means for NUTS) or an ``.npz`` file with one
    array per parameter, named ``<layer>.<role>`` (e.g. ``layer1.w``). The other layers get
    ``distribution(loc, default_scale)``. A learned hyperprior replaces both scales.

    Attributes:
        family: The prior (set by the option).
        distribution: The distribution of every weight: ``normal``, ``laplace``, ``cauchy`` or
            ``student_t``.
        source: The pretrained weights: a bnnrun run directory or an ``.npz`` file; must be
            set.
        layers: Layers to inform, e.g. ``[layer1, layer2]``; null: every layer.
        scale: Scale of the informed layers' prior; a learned hyperprior replaces it.
        loc: Location of the other layers' prior.
        default_scale: Scale of the other layers' prior; a learned hyperprior replaces it.
        df: Degrees of freedom, when ``distribution`` is ``student_t``.
    """

    family: PriorFamily = PriorFamily.informed
    distribution: PriorFamily = PriorFamily.normal
    source: str | None = None
    layers: list[str] | None = None
    scale: float = 1.0
    loc: float = 0.0
    default_scale: float = 1.0
    df: float = 3.0

    def __post_init__(self) -> None:
        require(
            self.distribution.value in LOCATION_SCALE_FAMILIES,
            "prior.distribution",
            f"one of {', '.join(LOCATION_SCALE_FAMILIES)}",
            self.distribution.value,
        )
        require(self.scale > 0, "prior.scale", "> 0", self.scale)
        require(self.default_scale > 0, "prior.default_scale", "> 0", self.default_scale)
        require(self.df > 0, "prior.df", "> 0", self.df)
        if self.layers is not None:
            require(
                len(self.layers) > 0,
                "prior.layers",
                "a non-empty list of layer names, or null for every layer",
                self.layers,
            )
