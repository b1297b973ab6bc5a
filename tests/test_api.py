"""The public API of ``bnnrun/__init__.py``: importing the package is light, every name it
exports resolves to the object its defining module holds, and the notebook recipe of its
docstring works from a config to a predictive."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import bnnrun

HEAVY = ["jax", "jaxlib", "numpyro", "hydra", "omegaconf", "arviz", "matplotlib", "optax"]


def test_import_bnnrun_loads_neither_jax_nor_hydra() -> None:
    code = (
        "import json, sys; import bnnrun; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []


def test_first_use_of_a_name_imports_its_module() -> None:
    code = (
        "import json, sys; import bnnrun; loaded = 'hydra' in sys.modules; bnnrun.compose; "
        "print(json.dumps([loaded, 'hydra' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == [False, True]  # compose needs Hydra: loaded only then


@pytest.mark.parametrize("name", [n for n in bnnrun.__all__ if n != "__version__"])
def test_every_exported_name_resolves_to_its_module_object(name: str) -> None:
    value = getattr(bnnrun, name)
    module = importlib.import_module(bnnrun._API[name])
    assert value is getattr(module, name)
    assert name in dir(bnnrun)


def test_all_and_the_lazy_table_name_the_same_things() -> None:
    assert set(bnnrun.__all__) == {*bnnrun._API, "__version__"}
    assert len(bnnrun.__all__) == len(set(bnnrun.__all__))
    assert isinstance(bnnrun.__version__, str) and bnnrun.__version__.count(".") == 2


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'bogus'"):
        bnnrun.bogus  # noqa: B018


@pytest.mark.slow
def test_notebook_recipe_from_config_to_predictive(tmp_path) -> None:
    """compose -> load_dataset -> build_model -> execute -> load_run -> predictive, as the
    docstring shows; the reloaded run's draws give the accuracy metrics.json records."""
    from sklearn.metrics import accuracy_score

    cfg = bnnrun.compose(["debug=smoke", "dataset.noise=0.2"])
    assert isinstance(cfg, bnnrun.Config) and cfg.dataset.noise == 0.2
    data = bnnrun.load_dataset(cfg.dataset)
    assert isinstance(data, bnnrun.Dataset) and data.x_train.shape[1] == 2
    built = bnnrun.build_model(cfg, data)
    net, model, hp, program = built  # a NamedTuple, as the docstring unpacks it
    assert isinstance(built, bnnrun.Built) and isinstance(model, bnnrun.BNN)
    assert net.param_shapes()["layer1"]["w"] == (2, 5) and program is not None
    assert float(hp["prior"]["scale"]) == cfg.prior.scale == 1.0
    record = bnnrun.execute(cfg, tmp_path)
    run = bnnrun.load_run(tmp_path)
    assert isinstance(run, bnnrun.SVIRun) and bnnrun.run_config(tmp_path) == cfg
    probs = run.predictive(run.data.x_test, num_samples=64, seed=1)
    assert probs.shape == (64, len(data.y_test), 2)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probs, run.predictive(run.data.x_test, num_samples=64, seed=1))
    assert not np.array_equal(probs, run.predictive(run.data.x_test, num_samples=64, seed=2))
    assert run.predictive(run.data.x_test).shape[0] == cfg.inference.num_predictive_samples
    # The run's own draws (the pipeline's predictive key) give the accuracy it recorded.
    key = jax.random.split(jax.random.PRNGKey(cfg.seed))[1]
    draws = run.draws(key=key, num_samples=cfg.inference.num_predictive_samples)
    mean = run.probs(draws, run.data.x_test).mean(0)
    assert accuracy_score(data.y_test, mean.argmax(-1)) == record["accuracy"]
