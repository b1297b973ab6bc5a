"""The CNN computes what a NumPy forward pass computes, has the paper's parameter count, takes every
prior and hyperprior, and its minibatch likelihood is scaled to the full data."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_config
from numpyro import handlers
from numpyro.infer.util import log_density
from scipy import stats
from scipy.special import logsumexp

from bnnrun.analysis.predictive import activation_bytes, chunk_sizes, resolve_sample_chunk
from bnnrun.errors import ConfigError, InvalidCombination
from bnnrun.model.bnn import BNN
from bnnrun.model.hparams import model_hparams
from bnnrun.model.nets import CNN, build_network, num_params


def numpy_forward(net: CNN, params, x: np.ndarray) -> np.ndarray:
    """Valid/same convolution (cross-correlation), tanh, max pool, dense: loops, no libraries."""
    h = np.asarray(x, np.float64)
    k = net.kernel
    for i in range(1, len(net.filters) + 1):
        w, b = (np.asarray(params[f"layer{i}"][r], np.float64) for r in ("w", "b"))
        if net.padding == "SAME":
            lo = (k - 1) // 2
            h = np.pad(h, ((0, 0), (lo, k - 1 - lo), (lo, k - 1 - lo), (0, 0)))
        n, hh, ww, _ = h.shape
        out = np.zeros((n, hh - k + 1, ww - k + 1, w.shape[-1]))
        for r in range(out.shape[1]):
            for c in range(out.shape[2]):
                patch = h[:, r : r + k, c : c + k, :]
                out[:, r, c, :] = np.einsum("nijc,ijco->no", patch, w)
        h = np.tanh(out + b)
        p = net.pool
        n, hh, ww, ch = h.shape
        h = h[:, : hh // p * p, : ww // p * p].reshape(n, hh // p, p, ww // p, p, ch).max((2, 4))
    h = h.reshape(h.shape[0], -1)
    dense = [name for name in net.param_shapes() if int(name[5:]) > len(net.filters)]
    for j, name in enumerate(dense):
        h = h @ np.asarray(params[name]["w"], np.float64) + np.asarray(params[name]["b"])
        if j < len(dense) - 1:
            h = np.tanh(h)
    return h


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_cnn_matches_numpy_forward(padding: str) -> None:
    net = CNN(input_shape=(11, 10, 2), filters=(3, 4), kernel=3, padding=padding, dense=(5,))
    rng = np.random.default_rng(1)
    params = {  # non-zero biases too
        layer: {
            role: rng.normal(0.0, 0.3, shape).astype(np.float32) for role, shape in roles.items()
        }
        for layer, roles in net.param_shapes().items()
    }
    x = np.random.default_rng(0).uniform(size=(4, 11, 10, 2)).astype(np.float32)
    got = np.asarray(jax.jit(net.apply)(params, jnp.asarray(x)))
    np.testing.assert_allclose(got, numpy_forward(net, params, x), rtol=1e-4, atol=1e-5)


def test_paper_cnn_has_the_papers_shapes() -> None:
    cfg = make_config("experiment=paper_mnist")
    net = build_network(cfg.architecture, input_shape=(28, 28, 1), num_classes=10)
    assert net.param_shapes() == {
        "layer1": {"w": (5, 5, 1, 32), "b": (32,)},
        "layer2": {"w": (5, 5, 32, 32), "b": (32,)},
        "layer3": {"w": (512, 64), "b": (64,)},
        "layer4": {"w": (64, 10), "b": (10,)},
    }
    assert num_params(net) == 832 + 25_632 + 32_832 + 650
    same = build_network(
        make_config("dataset=digits", "architecture=cnn").architecture,
        input_shape=(8, 8, 1),
        num_classes=10,
    )
    assert same.feature_shape() == (2, 2, 32)


@pytest.mark.parametrize(
    ("overrides", "input_shape", "message"),
    [
        (["architecture.padding=valid"], (8, 8, 1), "leaves nothing of 8x8 images"),
        ([], (2,), "architecture=cnn needs images"),
    ],
)
def test_impossible_cnn_is_refused(overrides, input_shape, message) -> None:
    cfg = make_config("dataset=digits", "architecture=cnn", *overrides)
    with pytest.raises(ConfigError, match=message):
        build_network(cfg.architecture, input_shape=input_shape, num_classes=10)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("architecture.filters=[]", "architecture.filters must be a non-empty list"),
        ("architecture.kernel=0", "architecture.kernel must be an integer >= 1"),
        ("architecture.dense=[0]", "architecture.dense must be a list of positive widths"),
        ("inference.warm_start_epochs=2", "0 unless inference.num_epochs is set"),
        ("inference.num_epochs=0", "inference.num_epochs must be an integer >= 1 or null"),
        ("dataset.validation_size=-1", "dataset.validation_size must be an integer in [0, 60000)"),
    ],
)
def test_impossible_image_settings_are_refused(override: str, message: str) -> None:
    # The inference checks hold for any network: on moons, whose defaults set no epochs.
    group = {
        "dataset": ["dataset=mnist"],
        "architecture": ["dataset=digits", "architecture=cnn"],
        "inference": [],
    }[override.split(".")[0]]
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config(*group, override)


def test_ood_needs_images_of_the_training_shape() -> None:
    with pytest.raises(InvalidCombination, match="ood=mnist has"):
        make_config("dataset=digits", "ood=mnist")
    assert make_config("dataset=fashion_mnist", "ood=mnist").ood.name == "mnist"


#: Data sets whose inputs are not images, with what each needs to compose (a table's file is not
#: read: the combination is refused before it would be).
NOT_IMAGES = {
    "moons": [],
    "toy_regression": [],
    "diabetes": [],
    "table": ["dataset.path=/nonexistent/data.csv", "dataset.target=y"],
    "uci": ["dataset.path=/nonexistent/uci"],
}


@pytest.mark.parametrize("dataset", NOT_IMAGES)
def test_cnn_on_inputs_that_are_not_images_is_refused_by_the_config(dataset: str) -> None:
    with pytest.raises(InvalidCombination) as info:
        make_config(f"dataset={dataset}", "architecture=cnn", *NOT_IMAGES[dataset])
    assert str(info.value) == (
        f"architecture=cnn needs images, but dataset={dataset} has inputs that are not images: "
        "use architecture=mlp, or an image dataset (digits, mnist, fashion_mnist)"
    )
    assert make_config(f"dataset={dataset}", *NOT_IMAGES[dataset]).architecture.name == "mlp"


@pytest.mark.parametrize("dataset", ["toy_regression", "table"])
def test_cnn_on_inputs_that_are_not_images_is_refused_before_the_run(
    run_cli, tmp_path: Path, dataset: str
) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        f"dataset={dataset}", "architecture=cnn", *NOT_IMAGES[dataset], f"hydra.run.dir={out}"
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"bnnrun: error: architecture=cnn needs images, but dataset={dataset} has inputs that "
        "are not images: use architecture=mlp, or an image dataset (digits, mnist, fashion_mnist)"
    ]
    assert not out.exists()
    assert not (tmp_path / "outputs").exists()


PRIORS = ["normal", "laplace", "cauchy", "student_t", "flat"]
HYPERPRIORS = ["fixed", "half_normal", "half_cauchy", "inverse_gamma"]


# Every prior and every hyperprior at least once (priors know nothing of the network's shape;
# tests/test_model.py checks every pair's log density by hand on the MLP).
CASES = [(p, "fixed") for p in PRIORS] + [("laplace", h) for h in HYPERPRIORS[1:]]


@pytest.mark.parametrize(("prior", "hyperprior"), CASES, ids=[f"{p}-{h}" for p, h in CASES])
def test_cnn_model_takes_every_prior_and_hyperprior(prior: str, hyperprior: str) -> None:
    """The CNN model's log joint at given weights equals scipy's prior (and hyperprior) log
    densities plus the minibatch log likelihood of the NumPy forward pass, scaled 12 / 4."""
    cfg = make_config(f"prior={prior}", f"hyperprior={hyperprior}")
    net = CNN(
        input_shape=(8, 8, 1), filters=(2,), kernel=3, padding="SAME", dense=(), num_classes=3
    )
    model = BNN(net, prior, hyperprior, num_data=12, given_batches=True)
    rng = np.random.default_rng(2)
    params = {
        layer: {role: rng.normal(0.0, 0.3, shape) for role, shape in roles.items()}
        for layer, roles in net.param_shapes().items()
    }
    values = {
        f"{layer}.{role}": jnp.asarray(w, jnp.float32)
        for layer, roles in params.items()
        for role, w in roles.items()
    }
    scale = 0.7 if hyperprior != "fixed" else getattr(cfg.prior, "scale", None)
    if hyperprior != "fixed":
        values.update({f"{site}_scale": jnp.float32(scale) for site in list(values)})
    x = rng.uniform(size=(4, 8, 8, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    h, p = cfg.hyperprior, cfg.prior
    hyper = {
        "fixed": None,
        "half_normal": lambda: stats.halfnorm(scale=h.scale),
        "half_cauchy": lambda: stats.halfcauchy(scale=h.scale),
        "inverse_gamma": lambda: stats.invgamma(h.concentration, scale=h.rate),
    }[hyperprior]
    weights = {
        "normal": lambda: stats.norm(p.loc, scale),
        "laplace": lambda: stats.laplace(p.loc, scale),
        "cauchy": lambda: stats.cauchy(p.loc, scale),
        "student_t": lambda: stats.t(p.df, p.loc, scale),
        "flat": None,
    }[prior]
    expected = 0.0
    for site in [s for s in values if not s.endswith("_scale")]:
        if hyper is not None:
            expected += hyper().logpdf(scale)
        if weights is not None:
            expected += weights().logpdf(np.asarray(values[site], np.float64)).sum()
    logits = numpy_forward(net, params, x)
    log_lik = (logits - logsumexp(logits, axis=-1, keepdims=True))[np.arange(4), y].sum()
    expected += 12 / 4 * log_lik
    hp = model_hparams(cfg.prior, cfg.hyperprior)
    args = (jnp.asarray(x), jnp.asarray(y), hp)
    logp = jax.jit(lambda v: log_density(handlers.seed(model, 0), args, {}, v)[0])(values)
    np.testing.assert_allclose(float(logp), expected, rtol=1e-5, atol=1e-3)


def test_given_batch_likelihood_is_scaled_to_the_full_data() -> None:
    """With N identical points, a given batch of B of them has the full data's log joint."""
    net = CNN(
        input_shape=(6, 6, 1), filters=(2,), kernel=3, padding="SAME", dense=(), num_classes=2
    )
    cfg = make_config("prior=flat")
    hp = model_hparams(cfg.prior, cfg.hyperprior)
    x = jnp.full((8, 6, 6, 1), 0.3)
    y = jnp.zeros(8, jnp.int32)
    shapes = {"layer1.w": (3, 3, 1, 2), "layer1.b": (2,), "layer2.w": (18, 2), "layer2.b": (2,)}
    params = {k: jnp.full(s, 0.1) for k, s in shapes.items()}
    full = jax.jit(lambda: log_density(BNN(net, "flat", "fixed", 8), (x, y, hp), {}, params)[0])
    batched = handlers.seed(BNN(net, "flat", "fixed", num_data=8, given_batches=True), 0)
    mini, scale = jax.jit(
        lambda: (lambda lp, tr: (lp, tr["y"]["scale"]))(
            *log_density(batched, (x[:2], y[:2], hp), {}, params)
        )
    )()
    assert float(scale) == pytest.approx(4.0)
    assert float(mini) == pytest.approx(float(full()), rel=1e-6)


def test_predictive_chunks_stay_within_the_memory_bound() -> None:
    net = CNN(input_shape=(28, 28, 1), padding="VALID")
    per = activation_bytes(net, (28, 28, 1))
    # conv1's output alone is 24 x 24 x 32 floats; all intermediates are several times that.
    assert per > 24 * 24 * 32 * 4
    data, samples = chunk_sizes(
        net, (28, 28, 1), data_chunk=4096, sample_chunk=64, max_bytes=64 << 20
    )
    assert data * samples * per <= 64 << 20 and data >= 64
    assert chunk_sizes(net, (28, 28, 1), data_chunk=100, sample_chunk=1, max_bytes=1 << 40) == (
        100,
        1,
    )
    assert resolve_sample_chunk(None, net=net, backend="cpu") == 1
    assert resolve_sample_chunk(None, net=net, backend="gpu") == 64
    assert resolve_sample_chunk(8, net=net, backend="cpu") == 8
