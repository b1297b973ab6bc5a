"""The root schema: one run's whole config, each group node typed by its option."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from bnnrun.config.analysis import AnalysisConfig
from bnnrun.config.checks import check_numbers, require
from bnnrun.config.runtime import RuntimeConfig


@dataclass
class Config:
    """The whole run. Group nodes are typed by their option's own schema.

    Attributes:
        dataset: The data set to fit: an option of ``conf/dataset/``.
        architecture: The network: an option of ``conf/architecture/``.
        prior: The prior over the weights: an option of ``conf/prior/``.
        hyperprior: A fixed or a learned prior scale: an option of ``conf/hyperprior/``.
        inference: How the posterior is found: an option of ``conf/inference/``.
        likelihood: How the network's output explains the target: an option of
            ``conf/likelihood/``.
        seed: Seed of everything stochastic in inference (guide initialisation, SVI noise,
            predictive draws); the data split has its own, ``dataset.seed``.
        name: Names the run directory: ``outputs/runs/NAME/TIMESTAMP``.
        resume: Continue an interrupted SVI run from the ``checkpoint.npz`` in its run
            directory (``hydra.run.dir``; same config).
        runtime: Where and how JAX runs (``runtime.*``).
        analysis: What is computed from the posterior predictive (``analysis.*``).
        ood: A data set whose test images are scored as out-of-distribution: an option of
            ``conf/ood/``; null: none.
        logger: The experiment tracker the run is also recorded in (MLflow, TensorBoard),
            by a Hydra callback: an option of ``conf/logger/``; ``none``: none.
    """

    dataset: Any = MISSING
    architecture: Any = MISSING
    prior: Any = MISSING
    hyperprior: Any = MISSING
    inference: Any = MISSING
    likelihood: Any = MISSING
    seed: int = 0
    name: str = MISSING
    resume: bool = False
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    ood: Any = None
    logger: Any = MISSING

    def __post_init__(self) -> None:
        require(self.seed >= 0, "seed", "an integer >= 0", self.seed)
        # Every group's schema is built by now: check every number of the run at once.
        check_numbers(self)
