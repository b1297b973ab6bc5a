"""Informed priors: centred on an earlier run's posterior or an .npz, layer by layer."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_config
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import log_softmax

from bnnrun.cli.precheck import check_inputs
from bnnrun.data import load_dataset
from bnnrun.errors import ConfigError
from bnnrun.model.bnn import params_from_sites
from bnnrun.pipeline.execute import execute
from bnnrun.pipeline.reload import build_model, load_run

SMALL = ["debug=smoke", "analysis.grid_size=8", "inference.num_predictive_samples=8"]


@pytest.fixture(scope="module")
def circles_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run on circles (its metrics.json records its config): the pretrained source."""
    run_dir = tmp_path_factory.mktemp("circles")
    cfg = make_config(*SMALL, "dataset=circles")
    assert execute(cfg, run_dir)["status"] == "ok"
    return run_dir


def informed(source: Path | str, *extra: str):
    return make_config(*SMALL, "prior=informed", f"prior.source={source}", *extra)


@pytest.mark.parametrize("hyperprior", ["fixed", "half_normal"])
def test_log_joint_centres_informed_layers_on_the_source(
    circles_run: Path, hyperprior: str
) -> None:
    """Pretrained on circles, informing a moons run: layer1 and layer2 get
    laplace(source mean, 0.5), layer3 laplace(0.2, 2.0), or a learned scale under a hyperprior."""
    cfg = informed(
        circles_run,
        "prior.distribution=laplace",
        "prior.layers=[layer2,layer1]",
        "prior.scale=0.5",
        "prior.loc=0.2",
        "prior.default_scale=2.0",
        f"hyperprior={hyperprior}",
    )
    data = load_dataset(cfg.dataset)
    net, model, hp, _ = build_model(cfg, data)
    assert model.informed == ("layer1", "layer2")
    with np.load(circles_run / "posterior.npz") as post:
        means = {k.removesuffix("_auto_loc"): post[k] for k in post.files if k.endswith("_loc")}
    rng = np.random.default_rng(0)
    values: dict[str, np.ndarray] = {}
    expected = 0.0
    for layer, roles in net.param_shapes().items():
        for role, shape in roles.items():
            site = f"{layer}.{role}"
            w = rng.normal(size=shape).astype(np.float32)
            values[site] = w
            loc, scale = (means[site], 0.5) if layer != "layer3" else (0.2, 2.0)
            if hyperprior != "fixed":
                scale = float(rng.uniform(0.5, 2.0))
                values[f"{site}_scale"] = np.float32(scale)
                expected += stats.halfnorm.logpdf(scale)
            expected += stats.laplace(loc, scale).logpdf(w).sum()
    x, y = data.x_train[:6], data.y_train[:6]
    logits = np.asarray(net.apply(params_from_sites(net, values), jnp.asarray(x)), np.float64)
    expected += log_softmax(logits, axis=-1)[np.arange(6), y].sum()
    six = dataclasses.replace(model, num_data=6)
    got = jax.jit(lambda v, h: log_density(six, (jnp.asarray(x), jnp.asarray(y), h), {}, v)[0])(
        {k: jnp.asarray(v) for k, v in values.items()}, hp
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-5, atol=1e-4)


def test_informed_run_keeps_its_centres_and_reloads_without_the_source(
    circles_run: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(circles_run, source)
    cfg = informed(source, "prior.layers=[layer1]")
    record = execute(cfg, tmp_path / "moons")
    assert record["status"] == "ok"
    with np.load(tmp_path / "moons" / "prior_centres.npz") as f:
        kept = {k: f[k] for k in f.files}
    assert sorted(kept) == ["layer1.b", "layer1.w"]
    with np.load(source / "posterior.npz") as post:
        np.testing.assert_array_equal(kept["layer1.w"], post["layer1.w_auto_loc"])
    shutil.rmtree(source)
    fitted = load_run(tmp_path / "moons")
    for site, value in kept.items():
        np.testing.assert_array_equal(np.asarray(fitted.hp["centres"][site]), value)


def test_npz_source_mapped_by_name(tmp_path: Path) -> None:
    centres = {"layer3.w": np.full((5, 2), 0.25, np.float32), "layer3.b": np.ones(2, np.float32)}
    np.savez(tmp_path / "head.npz", **centres, unused=np.zeros(3))
    cfg = informed(tmp_path / "head.npz", "prior.layers=[layer3]")
    _, model, hp, _ = build_model(cfg, load_dataset(cfg.dataset))
    assert model.informed == ("layer3",)
    assert sorted(hp["centres"]) == ["layer3.b", "layer3.w"]
    np.testing.assert_array_equal(np.asarray(hp["centres"]["layer3.w"]), centres["layer3.w"])


def test_source_of_another_shape_is_refused_naming_layer_and_shapes(
    circles_run: Path, tmp_path: Path
) -> None:
    cfg = informed(circles_run, "architecture.hidden=[4,5]")
    with pytest.raises(ConfigError) as err:
        build_model(cfg, load_dataset(cfg.dataset))
    assert "layer layer1 does not fit: layer1.w has shape (2, 5) in the source but (2, 4)" in str(
        err.value
    )
    np.savez(tmp_path / "w.npz", **{"layer1.w": np.zeros((3, 5)), "layer1.b": np.zeros(5)})
    with pytest.raises(
        ConfigError, match=r"layer1\.w has shape \(3, 5\) in the source but \(2, 5\)"
    ):
        build_model(
            informed(tmp_path / "w.npz", "prior.layers=[layer1]"), load_dataset(cfg.dataset)
        )
    np.savez(tmp_path / "l1.npz", **{"layer1.w": np.zeros((2, 5)), "layer1.b": np.zeros(5)})
    with pytest.raises(ConfigError, match=r"has no layer2\.w \(it has: layer1\.b, layer1\.w\)"):
        build_model(informed(tmp_path / "l1.npz"), load_dataset(cfg.dataset))
    with pytest.raises(ConfigError, match="no layer 'conv1'; its layers are: layer1, layer2"):
        build_model(informed(tmp_path / "w.npz", "prior.layers=[conv1]"), load_dataset(cfg.dataset))


def test_missing_or_unfinished_source_is_refused_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"prior=informed needs a source: prior\.source="):
        check_inputs(make_config("prior=informed"), tmp_path / "run")
    with pytest.raises(ConfigError, match=r"must be a bnnrun run directory or an \.npz file"):
        check_inputs(informed(tmp_path / "nothing"), tmp_path / "run")
    with pytest.raises(ConfigError, match="is not a finished bnnrun run directory"):
        check_inputs(informed(tmp_path), tmp_path / "run")


def test_cli_refuses_informed_prior_without_source(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("prior=informed", f"hydra.run.dir={out}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "bnnrun: error: prior=informed needs a source: prior.source=<a bnnrun run directory "
        "or an .npz file>"
    ]
    assert not out.exists()
