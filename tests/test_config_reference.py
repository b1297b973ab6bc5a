"""docs/config.md, the config reference: generated from the schemas and conf/, and up to date.

The spot checks read conf/ with ``yaml.safe_load`` and compare with values known by hand, not
with what the generator computes.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from bnnrun.config import (
    SCHEMAS,
    AnalysisConfig,
    CirclesConfig,
    Config,
    IDXImagesConfig,
    MoonsConfig,
    RuntimeConfig,
    reference,
)
from bnnrun.config.compose import CONF_DIR

DOCS = REPO / "docs" / "config.md"
GROUPS = [
    "dataset",
    "architecture",
    "prior",
    "hyperprior",
    "inference",
    "likelihood",
    "ood",
    "logger",
]


def _with_nested(classes: list[type]) -> list[type]:
    """``classes`` and every dataclass their fields hold (e.g. SVI's optimizer node)."""
    found: list[type] = []
    todo = list(classes)
    while todo:
        cls = todo.pop(0)
        if cls not in found:
            found.append(cls)
            todo += [t for t in typing.get_type_hints(cls).values() if dataclasses.is_dataclass(t)]
    return found


SCHEMA_CLASSES = _with_nested(
    [cls for options in SCHEMAS.values() for cls in options.values()]
    + [RuntimeConfig, AnalysisConfig, Config]
)


def _sections(text: str, level: str) -> dict[str, str]:
    """The text under each heading of ``level`` (``##`` or ``###``), by heading."""
    sections: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        hashes = len(line) - len(line.lstrip("#"))
        if 0 < hashes <= len(level) and line[hashes : hashes + 1] == " ":
            # A heading of this level starts a section; one of a higher level ends it.
            current = line[hashes + 1 :] if hashes == len(level) else None
            if current is not None:
                sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return sections


def _rows(section: str) -> dict[str, list[str]]:
    """The table rows of ``section``, by their first cell (``\\|`` kept inside a cell)."""
    rows = {}
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").replace("\\|", "\0").split("|")]
            cells = [c.replace("\0", "|") for c in cells]
            rows[cells[0]] = cells
    return rows


@pytest.fixture(scope="module")
def docs() -> str:
    assert DOCS.is_file(), "docs/config.md is missing: run `make docs`"
    return DOCS.read_text()


# (a) up to date


def test_reference_is_up_to_date(docs: str) -> None:
    assert reference.REFERENCE == DOCS  # `make docs` writes the file this test reads
    if docs != reference.render():
        pytest.fail(
            "docs/config.md is out of date with bnnrun/config/ or conf/: run `make docs`",
            pytrace=False,
        )


def test_check_exits_1_with_one_line_naming_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "config.md"
    assert reference.main(["--check", "--output", str(out)]) == 1  # missing counts as stale
    assert reference.main(["--output", str(out)]) == 0
    assert out.read_text() == reference.render()
    assert reference.main(["--check", "--output", str(out)]) == 0
    stale = out.read_text().replace(
        "| `prior.loc` | float | `0.0` |", "| `prior.loc` | float | `5` |"
    )
    assert stale != out.read_text()
    out.write_text(stale)
    capsys.readouterr()
    assert reference.main(["--check", "--output", str(out)]) == 1
    assert capsys.readouterr().err.splitlines() == [f"{out} is out of date: run `make docs`"]
    assert out.read_text() == stale  # --check writes nothing


# (b) every field has a meaning


def test_every_schema_is_described() -> None:
    assert set(reference.described_schemas()) == set(SCHEMA_CLASSES)
    assert len(SCHEMA_CLASSES) == 31  # 27 group schemas, the optimizer, runtime, analysis, root


@pytest.mark.parametrize("schema", SCHEMA_CLASSES, ids=[c.__name__ for c in SCHEMA_CLASSES])
def test_every_field_has_a_meaning(schema: type) -> None:
    meanings = reference.field_meanings(schema)
    assert list(meanings) == [f.name for f in dataclasses.fields(schema)]
    assert [name for name, meaning in meanings.items() if not meaning.strip()] == []
    assert reference.doc_problems(schema) == []


def test_meanings_join_continuation_lines_and_are_inherited() -> None:
    assert reference.field_meanings(IDXImagesConfig)["download"] == (
        "Download missing files into bnnrun's cache, each checked against its published SHA-256."
    )
    circles, moons = reference.field_meanings(CirclesConfig), reference.field_meanings(MoonsConfig)
    assert (
        circles["noise"]
        == moons["noise"]
        == ("Standard deviation of the Gaussian noise added to every point.")
    )
    assert circles["factor"] == "Radius of the inner circle relative to the outer one."


def test_doc_problems_name_undocumented_and_stray_fields() -> None:
    @dataclasses.dataclass
    class Partial:
        """An example.

        Attributes:
            a: Documented.
            gone: A field that was renamed.
        """

        a: int = 0
        b: int = 1

    assert reference.doc_problems(Partial) == [
        "Partial.b has no meaning in its docstring",
        "Partial documents 'gone', not a field",
    ]


# (c) every option is listed


@pytest.mark.parametrize("group", [*GROUPS, "experiment", "debug"])
def test_every_option_is_in_its_group_section(docs: str, group: str) -> None:
    rows = _rows(_sections(docs, "##")[group])
    files = sorted((CONF_DIR / group).glob("*.yaml"))
    assert files
    for path in files:
        row = rows.get(f"`{path.stem}`")
        assert row is not None, f"{group}={path.stem} is missing from docs/config.md"
        assert all(row), f"{group}={path.stem} has an empty cell: {row}"


# (d) spot checks against conf/ and values known by hand


def test_laplace_prior_scale_is_1(docs: str) -> None:
    laplace = yaml.safe_load((CONF_DIR / "prior" / "laplace.yaml").read_text())
    assert laplace["defaults"][0] == "/schema_prior_scaled@_here_"  # ScaledPriorConfig
    assert laplace["family"] == "laplace" and laplace["scale"] == 1.0
    option = _rows(_sections(docs, "##")["prior"])["`laplace`"]
    assert option[1] == "[ScaledPriorConfig](#scaledpriorconfig)"
    assert option[2] == "laplace(loc, scale) on every weight and bias."
    assert option[3] == "`family=laplace`, `loc=0.0`, `scale=1.0`"
    scale = _rows(_sections(docs, "###")["ScaledPriorConfig"])["`prior.scale`"]
    assert scale[1:3] == ["float", "`1.0`"]
    assert scale[3].startswith("Scale of every weight's and bias's prior")


def test_types_and_defaults_read_as_written(docs: str) -> None:
    schemas = _sections(docs, "###")
    mlp = _rows(schemas["MLPConfig"])
    assert mlp["`architecture.hidden`"][1:3] == ["list[int]", "`[5, 5]`"]
    assert mlp["`architecture.activation`"][1:3] == [
        "one of: tanh, relu, gelu, elu, silu, sigmoid, softplus",
        "`tanh`",
    ]
    digits = _rows(schemas["DigitsConfig"])
    assert digits["`dataset.classes`"][1:3] == ["list[int] | None", "`null`"]
    assert _rows(schemas["IDXImagesConfig"])["`dataset.name`"][2] == "required"
    svi_yaml = yaml.safe_load((CONF_DIR / "inference" / "svi.yaml").read_text())
    svi = _rows(schemas["SVIConfig"])
    assert svi["`inference.optimizer.lr`"][2] == f"`{svi_yaml['optimizer']['lr']}`" == "`0.01`"
    assert svi["`inference.num_steps`"][1:3] == ["int", "`50000`"]
    assert svi["`inference.checkpoint_every`"][1:3] == ["int | None", "`10000`"]


def test_top_level_defaults_come_from_config_yaml(docs: str) -> None:
    primary = yaml.safe_load((CONF_DIR / "config.yaml").read_text())
    assert {"dataset": "moons"} in primary["defaults"] and {"ood": None} in primary["defaults"]
    sections = _sections(docs, "##")
    top = _rows(sections["top-level keys"])
    assert top["`dataset`"][1:3] == ["option", "`moons`"]
    assert top["`ood`"][1:3] == ["option | None", "`null`"]
    assert top["`name`"][2] == f"`{primary['name']}`"
    assert primary["runtime"]["cpu_threads"] is None
    assert _rows(sections["runtime"])["`runtime.cpu_threads`"][1:3] == ["int | None", "`null`"]


def test_descriptions_are_first_sentences(docs: str) -> None:
    experiments = _rows(_sections(docs, "##")["experiment"])
    assert experiments["`paper_synthetic`"][1] == (
        "The paper's synthetic grid (Zharikov et al. 2017): moons and circles at noise 0.45, "
        "four priors, each with a fixed or a learned scale, over three seeds."
    )
    assert _rows(_sections(docs, "##")["debug"])["`smoke`"][1] == (
        "Tiny settings for tests and CI: seconds, not minutes."
    )


def test_cells_escape_pipes_and_html_outside_code() -> None:
    assert reference.cell("a | b, <sweep dir>, ``<layer>``") == "a \\| b, \\<sweep dir>, `<layer>`"
