"""Property: every value of every config key is either accepted or refused in one line.

The in-process part drives the validation that ``bnnrun`` runs before a run starts
(:func:`bnnrun.cli.precheck.check_run` on the config Hydra composes) with generated values for
every key of every option's schema: numbers at the edges, NaN, infinities, huge and negative
numbers, wrong types, unicode, empty and very long strings, lists and mappings. The input must
be accepted, or refused by a bnnrun error or a Hydra/OmegaConf composition error (which the CLI
words in one line, :func:`~bnnrun.cli.precheck.describe_error`); any other exception is a bug.
A small end-to-end part sends generated bad values through the real CLI.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from bnnrun.cli.precheck import check_args, check_run, describe_error
from bnnrun.config import (
    DISCRIMINATORS,
    SCHEMAS,
    AnalysisConfig,
    CirclesConfig,
    MoonsConfig,
    RuntimeConfig,
)
from bnnrun.config.compose import CONF_DIR, compose_config
from bnnrun.errors import BnnrunError

# ---------------------------------------------------------------------------------------------
# Every key of every option's schema


def _option(group: str, schema: str) -> str:
    """A ``conf/<group>/`` option whose node follows ``schema`` (e.g. prior ``scaled``: normal)."""
    _, values = DISCRIMINATORS[group]
    for value, name in values.items():
        if name == schema and (CONF_DIR / group / f"{value}.yaml").is_file():
            return value
    raise AssertionError(f"no option of {group} follows the schema {schema}")


def _leaves(cls: type, prefix: str) -> list[tuple[str, Any]]:
    """``(key, type)`` of every field of ``cls``, nested dataclasses walked."""
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, Any]] = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out += _leaves(kind, f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", kind))
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Overrides pointing the options that read the user's files at tiny valid ones."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    table = root / "table.csv"
    table.write_text(
        "a,b,y\n" + "".join(f"{a:.3f},{b:.3f},{int(a > 0)}\n" for a, b in x), encoding="utf-8"
    )
    uci = root / "uci"
    uci.mkdir()
    np.savetxt(uci / "data.txt", np.column_stack([x, x @ [1.0, -1.0]]))
    (uci / "index_features.txt").write_text("0\n1\n")
    (uci / "index_target.txt").write_text("2\n")
    np.savetxt(uci / "index_train_0.txt", np.arange(30), fmt="%d")
    np.savetxt(uci / "index_test_0.txt", np.arange(30, 40), fmt="%d")
    source = root / "source.npz"
    np.savez(source, **{"layer1.w": np.zeros((2, 5), np.float32)})
    return {
        "table": [f"dataset.path={table}", "dataset.target=y"],
        "uci": [f"dataset.path={uci}"],
        "informed": [f"prior.source={source}"],
    }


def _all_keys() -> list[tuple[tuple[str, ...], str, Any]]:
    """``(option overrides, key, type)`` for every key of every option's schema, and of the
    top-level nodes."""
    keys: list[tuple[tuple[str, ...], str, Any]] = []
    for group, options in SCHEMAS.items():
        for schema, cls in options.items():
            option = (f"{group}={_option(group, schema)}",)
            keys += [(option, key, kind) for key, kind in _leaves(cls, f"{group}.")]
    keys += [((), key, kind) for key, kind in _leaves(RuntimeConfig, "runtime.")]
    keys += [((), key, kind) for key, kind in _leaves(AnalysisConfig, "analysis.")]
    keys += [((), "seed", int), ((), "name", str), ((), "resume", bool)]
    return keys


KEYS = _all_keys()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The run directory of every in-process check: none of them may create it."""
    path = tmp_path_factory.mktemp("runs") / "never_written"
    yield path
    assert not path.exists()


def test_every_group_and_top_level_node_is_covered() -> None:
    covered = {key.partition(".")[0] for _, key, _ in KEYS}
    assert covered == {*SCHEMAS, "runtime", "analysis", "seed", "name", "resume"}
    # e.g. the nested optimizer of SVI, and every dataset option's seed
    assert any(key == "inference.optimizer.lr" for _, key, _ in KEYS)
    assert sum(key == "dataset.seed" for _, key, _ in KEYS) >= 6


# ---------------------------------------------------------------------------------------------
# Values: edges, non-finite, huge, negative, wrong types, odd strings


EDGE_FLOATS = [
    math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-50, -1e-50, 1e-39, 1.2e-38, 3.4e38, 3.5e38,
    1e39, 1e308, -1.0, 0.5, 1.0, 2.0, 1e-7,
]  # fmt: skip
EDGE_INTS = [0, -1, 1, 2, 3, 4, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, -(2**63), 10**30]
ODD_STRINGS = ["", " ", "x" * 5000, "ü∂😀", "a/b", "..", "${oops}", "null", "\u202e", "\t"]

numbers = st.one_of(
    st.sampled_from(EDGE_FLOATS),
    st.sampled_from(EDGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
)
scalars = st.one_of(
    numbers, st.booleans(), st.none(), st.sampled_from(ODD_STRINGS), st.text(max_size=40)
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.sampled_from(["a", "b"]), scalars, max_size=2),
)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(value: Any, *, raw: bool = False) -> str:
    """``value`` in Hydra's override grammar (a string quoted, unless ``raw``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # inf, -inf, 1e+39
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if raw else _quote(value)
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    return "{" + ",".join(f"{k}:{render(v)}" for k, v in value.items()) + "}"


def _typed_values(kind: Any) -> st.SearchStrategy[Any]:
    """Values of the key's own type at their edges, alongside the generic ones."""
    args = typing.get_args(kind)
    base = next((a for a in args if a is not type(None)), kind) if args else kind
    if isinstance(kind, types.UnionType | typing._UnionGenericAlias):  # type: ignore[attr-defined]
        kind = base
    if kind is float:
        return st.one_of(st.sampled_from(EDGE_FLOATS), st.floats())
    if kind is int:
        return st.one_of(st.sampled_from(EDGE_INTS), st.integers())
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return st.sampled_from([m.value for m in kind] + ["BOGUS", ""])
    if typing.get_origin(kind) is list:
        return st.lists(st.one_of(st.sampled_from(EDGE_INTS), st.text(max_size=8)), max_size=4)
    return st.sampled_from(ODD_STRINGS)


# ---------------------------------------------------------------------------------------------
# The validation `bnnrun` runs before a run starts


_BASE: dict[tuple[str, ...], DictConfig] = {}


def composed(option: tuple[str, ...], extra: list[str], run_dir: Path) -> DictConfig:
    """The config Hydra composes for ``option`` (cached), with ``extra`` overrides applied
    by Hydra's own override machinery: as ``compose_config(option + extra)``, 40x faster."""
    base = (*option, *extra, f"hydra.run.dir={run_dir}")
    if base not in _BASE:
        _BASE[base] = compose_config(list(base))
    return _BASE[base].copy()


def outcome(apply: Any) -> str | None:
    """None if ``apply()`` accepts the input, else the one line the CLI prints for it. Raises
    anything that is neither a bnnrun error, an OSError naming its path, nor a Hydra/OmegaConf
    composition error."""
    try:
        apply()
    except BnnrunError as exc:
        message = str(exc)
    except OSError as exc:  # a path the OS refuses (too long): the CLI names it and the reason
        assert exc.filename is not None and exc.strerror, exc
        message = describe_error(exc)
    except (HydraException, OmegaConfBaseException) as exc:
        # OmegaConf wraps a TypeError from a schema's __post_init__: that is a bug, not a refusal.
        cause = exc.__cause__
        while cause is not None:
            ours = isinstance(cause, HydraException | OmegaConfBaseException)
            assert ours or not isinstance(cause, TypeError | ArithmeticError | AttributeError), exc
            cause = cause.__cause__
        message = describe_error(exc)
    else:
        return None
    assert message.strip(), "an empty error message"
    assert "\n" not in message, message
    return message


def fast_check(option: tuple[str, ...], extra: list[str], override: str, run_dir: Path) -> None:
    cfg = composed(option, extra, run_dir)
    parsed = OverridesParser.create().parse_overrides([override])
    ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)
    check_run(cfg)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_key_is_accepted_or_refused_in_one_line(
    data: st.DataObject, inputs: dict[str, list[str]], run_dir: Path
) -> None:
    option, key, kind = data.draw(st.sampled_from(KEYS), label="key")
    value = data.draw(st.one_of(_typed_values(kind), values), label="value")
    raw = data.draw(st.booleans(), label="raw") and isinstance(value, str)
    extra = inputs.get(option[0].partition("=")[2], []) if option else []
    if option == ("prior=informed",):
        extra = inputs["informed"]
    override = f"{key}={render(value, raw=raw)}"
    outcome(lambda: fast_check(option, extra, override, run_dir))
    assert not run_dir.exists()


def _numeric(kind: Any) -> bool:
    """A number, an optional number, or a list of numbers."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return kind in (int, float) or any(a in (int, float) for a in args)


NUMERIC_KEYS = [k for k in KEYS if _numeric(k[2])]


@pytest.mark.parametrize(
    ("option", "key", "kind"), NUMERIC_KEYS, ids=[f"{' '.join(o)}:{k}" for o, k, _ in NUMERIC_KEYS]
)
def test_every_numeric_key_refuses_non_finite_and_huge_numbers(
    option: tuple[str, ...], key: str, kind: Any, inputs: dict[str, list[str]], run_dir: Path
) -> None:
    """NaN, infinities and numbers beyond float32 or int32 are never accepted, for any key."""
    extra = inputs.get(option[0].partition("=")[2], []) if option else []
    if option == ("prior=informed",):
        extra = inputs["informed"]
    floats = float in (kind, *typing.get_args(kind))
    # 2**63 is a fine float32 (9.2e18), but no int32 or seed
    for value in ("nan", "inf", "-inf", "1e39", "1e-50", *(() if floats else (str(2**63),))):
        message = outcome(lambda v=value: fast_check(option, extra, f"{key}={v}", run_dir))
        assert message is not None, (key, value)


@settings(max_examples=25, deadline=None)
@given(key=st.sampled_from(KEYS), value=values)
def test_the_cli_precheck_agrees(
    key: tuple[tuple[str, ...], str, Any],
    value: Any,
    inputs: dict[str, list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The same property through :func:`check_args`, which the CLI calls (composition included)."""
    option, name, _ = key
    extra = inputs["informed"] if option == ("prior=informed",) else []
    extra = extra or (inputs.get(option[0].partition("=")[2], []) if option else [])
    run_dir = tmp_path_factory.getbasetemp() / "never_written_cli"
    args = [*option, *extra, f"{name}={render(value)}", f"hydra.run.dir={run_dir}"]
    outcome(lambda: check_args(args, conf_dir=CONF_DIR))
    assert not run_dir.exists()


# ---------------------------------------------------------------------------------------------
# Examples of issue 12: numbers that passed validation but could not work


ISSUE_EXAMPLES = [
    (["prior.loc=nan"], "prior.loc must be a finite number"),
    (["prior.scale=1e-50"], "prior.scale must be 0 or of magnitude in [1.175e-38"),
    (["prior.scale=inf"], "prior.scale must be a finite number"),
    (["dataset.noise=inf"], "dataset.noise must be a finite number"),
    (["dataset.seed=-1"], "dataset.seed must be an integer in [0, 4294967295]"),
    (["dataset.seed=4294967296"], "dataset.seed must be an integer in [0, 4294967295]"),
    (["seed=9223372036854775808"], "seed must be an integer in [0, 4294967295]"),
    (
        ["dataset.n_samples=4", "dataset.test_fraction=0.1"],
        "this split of 4 leaves 3 and 1",
    ),
    (
        ["dataset=digits", "dataset.test_fraction=0.003"],
        "this split of 1797 leaves 1791 and 6",
    ),
    (
        ["dataset=diabetes", "dataset.test_fraction=0.999"],
        "this split of 442 leaves 0 and 442",
    ),
    (["architecture.hidden=[4294967296]"], "must be an integer of magnitude <= 2147483647"),
]


@pytest.mark.parametrize(
    ("args", "message"), ISSUE_EXAMPLES, ids=[" ".join(a) for a, _ in ISSUE_EXAMPLES]
)
def test_issue_examples_are_refused(args: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(BnnrunError) as info:
        check_args([*args, f"hydra.run.dir={tmp_path / 'r'}"], conf_dir=CONF_DIR)
    assert message in str(info.value)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=4, max_value=60),
    fraction=st.floats(min_value=0.001, max_value=0.999),
    schema=st.sampled_from([MoonsConfig, CirclesConfig]),
)
def test_an_accepted_split_can_be_made(n: int, fraction: float, schema: type) -> None:
    """Whatever split the schema accepts, scikit-learn can make (both classes in both parts);
    what it refuses, it cannot."""
    from bnnrun.data import load_dataset

    try:
        cfg = schema(n_samples=n, test_fraction=fraction)
    except BnnrunError:
        n_test = math.ceil(fraction * n)  # scikit-learn's rounding
        assert min(n_test, n - n_test) < 2
        unchecked = schema()  # the same values, past the schema's check
        unchecked.n_samples, unchecked.test_fraction = n, fraction
        with pytest.raises(ValueError) as info:  # scikit-learn's own refusal
            load_dataset(unchecked)
        assert not isinstance(info.value, BnnrunError)
        return
    data = load_dataset(cfg)
    assert set(data.y_train.tolist()) == set(data.y_test.tolist()) == {0, 1}


# ---------------------------------------------------------------------------------------------
# End to end: the real CLI, a handful of generated bad values

BAD_VALUES = {
    "prior.scale": st.sampled_from(["inf", "nan", "1e-50", "1e39", "-1"]),
    "dataset.noise": st.sampled_from(["inf", "-inf", "nan", "1e309"]),
    "dataset.seed": st.integers(min_value=2**32, max_value=2**80).map(str),
    "inference.optimizer.lr": st.sampled_from(["inf", "0", "1e-45", "-0.5"]),
}


@settings(max_examples=4, deadline=None, derandomize=True)
@given(key=st.sampled_from(sorted(BAD_VALUES)), data=st.data())
def test_bad_values_through_the_cli(
    key: str, data: st.DataObject, tmp_path_factory, cache_dir
) -> None:
    value = data.draw(BAD_VALUES[key])
    out = tmp_path_factory.mktemp("cli") / "run"
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.run(
        [sys.executable, "-m", "bnnrun", f"{key}={value}", f"hydra.run.dir={out}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "BNNRUN_CACHE_DIR": str(cache_dir)},
    )
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"bnnrun: error: {key}=")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# The other commands' arguments, and the sweeper's options

paths = st.one_of(
    st.sampled_from(["", ".", "/", "/proc", "/nonexistent", "x" * 300, "a/" * 2100, "\x00"]),
    st.text(max_size=30),
)
flags = st.lists(
    st.one_of(
        st.sampled_from(["--inputs", "--num-samples", "--seed", "--output", "--bogus", "-h"]),
        st.sampled_from(["test", "grid", "0", "-1", str(2**64), "nan", "1e9"]),
        paths,
    ),
    max_size=4,
)


def one_line_exit(run: Any, prog: str, capsys: pytest.CaptureFixture[str]) -> int:
    """Run a command's ``main`` in-process; its exit code, after checking that an error is one
    line on stderr, starting with ``prog: error:``."""
    try:
        code = run()
    except SystemExit as exc:
        code = exc.code
    _, err = capsys.readouterr()
    if code not in (0, None):
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), err
    return code or 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(args=st.lists(paths, min_size=0, max_size=2), more=flags)
def test_compare_arguments_are_run_or_refused_in_one_line(
    args: list[str], more: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from bnnrun.cli import compare

    if "-h" in more:
        return  # help: argparse's usage, exit 0
    code = one_line_exit(lambda: compare.main([*args, *more]), "bnnrun-compare", capsys)
    assert code == 2  # no finished run among the generated paths


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(args=st.lists(paths, min_size=0, max_size=2))
def test_report_arguments_are_run_or_refused_in_one_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from bnnrun.cli import report

    if any(a in ("/", "/proc", ".") for a in args):
        return  # real directories: a report would search them whole
    code = one_line_exit(lambda: report.main(args), "bnnrun-report", capsys)
    assert code == 2


@pytest.mark.parametrize("points", [1, 0, -3, True])
def test_an_impossible_interval_points_is_refused_in_one_line(points, capsys) -> None:
    from hydra_plugins.bnnrun_sweeper.bnnrun_sweeper import BnnrunSweeper

    with pytest.raises(SystemExit) as info:
        BnnrunSweeper(interval_points=points)
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"bnnrun: error: hydra.sweeper.interval_points={points} is not allowed: it must be an "
        "integer >= 2 (the points of each interval, both ends included)"
    ]
