"""The root schema: one run's whole config, each group node typed by its option."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from bnnrun.config.analysis import AnalysisConfig
from bnnrun.config.checks import require
from bnnrun.config.runtime import RuntimeConfig


@dataclass
class Config:
    """The whole run. Group nodes are typed by their option's own schema."""

    dataset: Any = MISSING
    architecture: Any = MISSING
    prior: Any = MISSING
    hyperprior: Any = MISSING
    inference: Any = MISSING
    seed: int = 0
    name: str = MISSING
    resume: bool = False
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    ood: Any = None

    def __post_init__(self) -> None:
        require(self.seed >= 0, "seed", "an integer >= 0", self.seed)
