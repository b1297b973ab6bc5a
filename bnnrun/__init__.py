"""bnnrun: a command-line experiment runner for Bayesian neural networks (Hydra + NumPyro).

The same pieces the command line runs, for a notebook or a script::

    import bnnrun

    cfg = bnnrun.compose(["dataset=circles", "prior=laplace"])  # typed, validated Config
    data = bnnrun.load_dataset(cfg.dataset)                     # Dataset of arrays
    net, model, hp, program = bnnrun.build_model(cfg, data)     # Built
    # model(x, y, hp) is a NumPyro model; net.apply(params, x) gives logits [N, C]

    run = bnnrun.load_run("outputs/2026-11-29/12-00-00")        # SVIRun or NUTSRun
    probs = run.predictive(run.data.x_test)                     # [S, N, C]

Names are imported on first use, so ``import bnnrun`` loads neither JAX nor Hydra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "Config": "bnnrun.config",
    "compose": "bnnrun.config.compose",
    "Dataset": "bnnrun.data",
    "load_dataset": "bnnrun.data",
    "BNN": "bnnrun.model.bnn",
    "HyperParams": "bnnrun.model.hparams",
    "Built": "bnnrun.pipeline.build",
    "build_model": "bnnrun.pipeline.reload",
    "execute": "bnnrun.pipeline.execute",
    "FittedRun": "bnnrun.pipeline.posterior",
    "SVIRun": "bnnrun.pipeline.posterior",
    "NUTSRun": "bnnrun.pipeline.posterior",
    "load_run": "bnnrun.pipeline.reload",
    "run_config": "bnnrun.pipeline.reload",
    "compare_runs": "bnnrun.pipeline.compare",
}

__all__ = [
    "BNN",
    "Built",
    "Config",
    "Dataset",
    "FittedRun",
    "HyperParams",
    "NUTSRun",
    "SVIRun",
    "__version__",
    "build_model",
    "compare_runs",
    "compose",
    "execute",
    "load_dataset",
    "load_run",
    "run_config",
]

if TYPE_CHECKING:
    from bnnrun.config import Config
    from bnnrun.config.compose import compose
    from bnnrun.data import Dataset, load_dataset
    from bnnrun.model.bnn import BNN
    from bnnrun.model.hparams import HyperParams
    from bnnrun.pipeline.build import Built
    from bnnrun.pipeline.compare import compare_runs
    from bnnrun.pipeline.execute import execute
    from bnnrun.pipeline.posterior import FittedRun, NUTSRun, SVIRun
    from bnnrun.pipeline.reload import build_model, load_run, run_config


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'bnnrun' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
