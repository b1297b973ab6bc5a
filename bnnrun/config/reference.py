"""The configuration reference, ``docs/config.md``, generated from the schemas and ``conf/``.

Each key's type and default come from its schema (a dataclass of this package), its meaning
from the schema's docstring (the Google-style ``Attributes:`` section), and each option's own
values and description from its YAML file in ``conf/`` (the description is the first sentence
of the file's opening comment). ``make docs`` writes the file; ``--check`` (and
``tests/test_config_reference.py``) fail when the committed file is out of date::

    python -m bnnrun.config.reference           # write docs/config.md
    python -m bnnrun.config.reference --check   # exit 1 if docs/config.md is stale
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import inspect
import re
import sys
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import MISSING, OmegaConf

from bnnrun.config.analysis import AnalysisConfig
from bnnrun.config.compose import CONF_DIR
from bnnrun.config.dotted import flatten
from bnnrun.config.registry import SCHEMAS, schema_name
from bnnrun.config.runtime import RuntimeConfig
from bnnrun.config.schema import Config
from bnnrun.errors import ExitCode
from bnnrun.rundir import atomic_path

#: Where the reference lives in a source checkout.
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "config.md"

#: The config groups, in the reference's order. ``ood`` options are data sets.
GROUPS = (
    "dataset",
    "architecture",
    "prior",
    "hyperprior",
    "inference",
    "likelihood",
    "ood",
    "logger",
)

#: Top-level nodes with one schema and no options, in the reference's order.
NODES: dict[str, type] = {"runtime": RuntimeConfig, "analysis": AnalysisConfig}

_SCHEMA_BY_NAME = {
    schema_name(group, option): cls
    for group, options in SCHEMAS.items()
    for option, cls in options.items()
}


# ---------------------------------------------------------------------------------------------
# Meanings: the Attributes sections of the schemas' docstrings


def documented(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of ``cls``'s own docstring (not its bases'), each entry's
    lines joined into one.

    Raises:
        ValueError: a line of the section is neither ``name: meaning`` nor its continuation.
    """
    entries: dict[str, str] = {}
    current = None
    in_section = False
    for line in inspect.cleandoc(cls.__dict__.get("__doc__") or "").splitlines():
        if not in_section:
            in_section = line == "Attributes:"
            continue
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent == 0:
            break
        entry = re.fullmatch(r" {4}(\w+): (\S.*)", line)
        if entry:
            current = entry[1]
            entries[current] = entry[2].strip()
        elif current is not None and indent > 4:
            entries[current] += " " + line.strip()
        else:
            raise ValueError(f"{cls.__name__}'s Attributes section: cannot read {line.strip()!r}")
    return entries


def field_meanings(cls: type) -> dict[str, str]:
    """Each field of the dataclass ``cls`` with its one-line meaning ("" if undocumented),
    from the nearest class of its MRO whose docstring documents it."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(documented(klass))
    return {f.name: docs.get(f.name, "") for f in dataclasses.fields(cls)}


def doc_problems(cls: type) -> list[str]:
    """Fields of ``cls`` without a meaning, and documented names that are not its fields."""
    meanings = field_meanings(cls)
    named = {name for klass in cls.__mro__ for name in documented(klass)}
    missing = [
        f"{cls.__name__}.{n} has no meaning in its docstring" for n, m in meanings.items() if not m
    ]
    stray = [f"{cls.__name__} documents {n!r}, not a field" for n in sorted(named - set(meanings))]
    return missing + stray


def described_schemas() -> list[type]:
    """Every schema the reference describes: each group's, the nested nodes' (e.g. the SVI
    optimizer), runtime, analysis and the root :class:`Config`."""
    found: list[type] = []

    def add(cls: type) -> None:
        if cls in found:
            return
        found.append(cls)
        for tp in typing.get_type_hints(cls).values():
            if dataclasses.is_dataclass(tp):
                add(tp)

    for options in SCHEMAS.values():
        for cls in options.values():
            add(cls)
    for cls in (*NODES.values(), Config):
        add(cls)
    return found


# ---------------------------------------------------------------------------------------------
# Types and values, as a YAML reader writes them


def type_name(tp: Any) -> str:
    """A readable type: ``int``, ``str | None``, ``list[int] | None``, ``one of: a, b``."""
    if tp is type(None):
        return "None"
    if tp is Any:
        return "node"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(type_name(arg) for arg in typing.get_args(tp))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_name(a) for a in typing.get_args(tp))}]"
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        return "one of: " + ", ".join(str(member.value) for member in tp)
    return tp.__name__


def yaml_value(value: Any) -> str:
    """``value`` as YAML spells it: ``null``, ``true``, ``0.01``, ``[5, 5]``, ``tanh``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value) if value != "" else '""'


def _is_missing(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, enum.Enum) and value == MISSING


def schema_default(f: dataclasses.Field) -> Any:
    """The field's default value (a fresh one for a ``default_factory``)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return MISSING


# ---------------------------------------------------------------------------------------------
# conf/: options, their schemas, values and descriptions


def description(path: Path) -> str:
    """The first sentence of the YAML file's opening comment (``# @package`` lines skipped)."""
    lines: list[str] = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text.startswith("@package"):
            lines.append(text)
    first = _SENTENCE_END.split(" ".join(lines), maxsplit=1)
    return first[0] + "." if len(first) > 1 else first[0]


#: A full stop and a space that end a sentence: not those of "e.g.", "i.e.", "et al.", "etc.".
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bal)(?<!\betc)\.\s+")


def read_yaml(path: Path) -> tuple[list[Any], dict[str, Any]]:
    """The file's ``defaults`` list and its own values (interpolations kept as written)."""
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    assert isinstance(data, dict)
    defaults = data.pop("defaults", [])
    return defaults, data


@dataclasses.dataclass(frozen=True)
class Option:
    """One YAML file of a config group.

    Attributes:
        group: the config group (``conf/<group>/``).
        name: the option's name, its file's stem.
        schema: the dataclass its node follows.
        based_on: for an option that starts from another group's option (``ood=digits`` is
            ``dataset=digits``), that ``(group, option)``; else None.
        values: the keys the file itself sets, flattened to dotted keys.
        description: the first sentence of the file's opening comment.
    """

    group: str
    name: str
    schema: type
    based_on: tuple[str, str] | None
    values: dict[str, Any]
    description: str


def read_option(group: str, name: str, conf_dir: Path = CONF_DIR) -> Option:
    """The option ``group=name``, its schema told by its ``defaults`` list.

    Raises:
        ValueError: the defaults list names no schema (or option) this module knows.
    """
    path = conf_dir / group / f"{name}.yaml"
    defaults, values = read_yaml(path)
    schema: type | None = None
    based_on = None
    for entry in defaults:
        if entry == "_self_":
            continue
        target = entry.lstrip("/").split("@")[0] if isinstance(entry, str) else None
        if target in _SCHEMA_BY_NAME:
            schema = _SCHEMA_BY_NAME[target]
        elif target is not None and target.count("/") == 1:
            based_on = (target.split("/")[0], target.split("/")[1])
            schema = read_option(*based_on, conf_dir=conf_dir).schema
        else:
            raise ValueError(f"{path}: cannot tell the schema from the defaults entry {entry!r}")
    if schema is None:
        raise ValueError(f"{path}: its defaults list names no schema")
    return Option(group, name, schema, based_on, flatten(values), description(path))


def options(group: str, conf_dir: Path = CONF_DIR) -> list[Option]:
    """Every option of ``group``, by name."""
    return [read_option(group, p.stem, conf_dir) for p in sorted((conf_dir / group).glob("*.yaml"))]


def primary_defaults(conf_dir: Path = CONF_DIR) -> tuple[dict[str, str | None], dict[str, Any]]:
    """From ``conf/config.yaml``: each group's default option, and the values it sets itself."""
    defaults, values = read_yaml(conf_dir / "config.yaml")
    chosen = {
        key: value
        for entry in defaults
        if isinstance(entry, dict)
        for key, value in entry.items()
        if key in GROUPS
    }
    return chosen, values


# ---------------------------------------------------------------------------------------------
# Markdown


def markdown(text: str) -> str:
    """Docstring or comment text as Markdown: reST's ``code`` and :class:`Name` as code spans,
    and ``<`` outside code escaped (it would start an HTML tag: ``<sweep dir>`` would vanish)."""
    text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text).replace("``", "`")
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(p if p.startswith("`") else p.replace("<", "\\<") for p in parts)


def cell(text: str) -> str:
    """``text`` for a Markdown table cell (a ``|`` would end the cell)."""
    return markdown(text).replace("|", "\\|")


def code(value: Any) -> str:
    return f"`{yaml_value(value)}`"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def anchor(heading: str) -> str:
    """GitHub's anchor of a plain heading."""
    return "#" + re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def summary(cls: type) -> str:
    """The docstring of ``cls`` before its sections, each paragraph on one line."""
    text = inspect.cleandoc(cls.__dict__.get("__doc__") or "").split("\nAttributes:")[0]
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    return "\n\n".join(markdown(p) for p in paragraphs)


def key_rows(
    cls: type, prefix: str, *, overrides: Mapping[str, Any] | None = None, nested: bool = True
) -> Iterator[list[str]]:
    """``[key, type, default, meaning]`` of every field of ``cls``; a nested node's keys follow
    its own row if ``nested``. ``overrides`` (dotted keys) replace the schema's defaults."""
    hints = typing.get_type_hints(cls)
    meanings = field_meanings(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            if nested:
                yield [f"`{key}`", type_name(tp), "the keys below", meanings[f.name]]
                yield from key_rows(tp, f"{key}.", overrides=overrides)
            else:
                where = anchor(f.name)
                yield [f"`{key}`", type_name(tp), f"see [{f.name}]({where})", meanings[f.name]]
            continue
        value = schema_default(f)
        if overrides is not None and key in overrides:
            value = overrides[key]
        default = "required" if _is_missing(value) else code(value)
        yield [f"`{key}`", type_name(tp), default, meanings[f.name]]


KEY_HEADER = ("key", "type", "default", "meaning")


def group_section(group: str, chosen: Mapping[str, str | None], conf_dir: Path) -> list[str]:
    opts = options(group, conf_dir)
    default = chosen.get(group)
    lines = [f"## {group}", ""]
    if group == "ood":
        lines += [
            "`ood=OPTION` adds a data set whose test images are scored as out-of-distribution "
            f"against the run's own test set (default: {code(default)}). Each option is a "
            "`dataset` option; its keys are that option's (`ood.KEY=VALUE`), described under "
            f"[dataset]({anchor('dataset')}).",
            "",
        ]
        rows = [
            [
                f"`{o.name}`",
                f"`{o.based_on[0]}={o.based_on[1]}`" if o.based_on else "",
                f"[{o.schema.__name__}]({anchor(o.schema.__name__)})",
                o.description,
            ]
            for o in opts
        ]
        return lines + table(("option", "same as", "schema", "description"), rows)
    lines += [
        f"`{group}=OPTION` chooses the option (default: {code(default)}); "
        f"`{group}.KEY=VALUE` sets one of its keys.",
        "",
    ]
    rows = [
        [
            f"`{o.name}`",
            f"[{o.schema.__name__}]({anchor(o.schema.__name__)})",
            o.description,
            ", ".join(f"`{k}={yaml_value(v)}`" for k, v in o.values.items()),
        ]
        for o in opts
    ]
    lines += table(("option", "schema", "description", "the option sets"), rows)
    for cls in dict.fromkeys(SCHEMAS[group].values()):
        users = [f"`{o.name}`" for o in opts if o.schema is cls]
        lines += [f"### {cls.__name__}", "", summary(cls), ""]
        lines += [f"Options: {', '.join(users) if users else 'none'}.", ""]
        lines += table(KEY_HEADER, list(key_rows(cls, f"{group}.")))
    if group == "dataset":
        lines += ["### Settings that come with a data set (`conf/dataset_defaults/`)", ""]
        lines += settings_files(
            conf_dir,
            "dataset_defaults",
            "Applied after the groups' defaults when that data set is chosen; `experiment=` and "
            "the command line override them.",
            first="data set",
        )
    return lines


def settings_files(
    conf_dir: Path, folder: str, intro: str, *, first: str, values: bool = True
) -> list[str]:
    """A table of the YAML files of ``conf/<folder>/``: name, description, what each sets."""
    rows = []
    for path in sorted((conf_dir / folder).glob("*.yaml")):
        row = [f"`{path.stem}`", description(path)]
        if values:
            _, own = read_yaml(path)
            own.pop("hydra", None)
            row.append(", ".join(f"`{k}={yaml_value(v)}`" for k, v in flatten(own).items()))
        rows.append(row)
    header = (first, "description", "sets") if values else (first, "description")
    return [intro, "", *table(header, rows)]


def render(conf_dir: Path = CONF_DIR) -> str:
    """The whole reference, as Markdown."""
    chosen, base = primary_defaults(conf_dir)
    flat_base = flatten(base)
    sections = [*GROUPS, *NODES, "top-level keys", "experiment", "debug"]
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `make docs` (python -m bnnrun.config.reference) from the schemas in",
        "bnnrun/config/ and the YAML files in conf/. Do not edit: tests/test_config_reference.py",
        "fails when this file is out of date. -->",
        "",
        "Hydra composes every run from `conf/config.yaml`: one option of each config group "
        "(`bnnrun prior=laplace`), then single keys (`bnnrun prior.scale=0.1`). Each option "
        "starts from its schema, a dataclass in `bnnrun/config/`, so an unknown key or a value "
        "of the wrong type is refused before anything runs. `null` is YAML's None; *required* "
        "means the option (or the command line) must set the key. Each option's description is "
        "the first sentence of its YAML file's opening comment.",
        "",
        "Sections: " + " · ".join(f"[{s}]({anchor(s)})" for s in sections),
        "",
    ]
    for group in GROUPS:
        lines += group_section(group, chosen, conf_dir)
    for node, cls in NODES.items():
        lines += [f"## {node}", "", summary(cls), ""]
        lines += ["Defaults as `conf/config.yaml` sets them.", ""]
        lines += table(KEY_HEADER, list(key_rows(cls, f"{node}.", overrides=flat_base)))
    lines += [
        "## top-level keys",
        "",
        summary(Config),
        "",
        "Defaults as `conf/config.yaml` sets them (its defaults list for the groups).",
        "",
    ]
    rows = []
    for row in key_rows(Config, "", overrides=flat_base, nested=False):
        group = row[0].strip("`")
        if group in GROUPS:
            row[1] = "option" if chosen.get(group) is not None else "option | None"
            row[2] = code(chosen.get(group))
        rows.append(row)
    lines += table(KEY_HEADER, rows)
    lines += ["## experiment", ""]
    lines += settings_files(
        conf_dir,
        "experiment",
        "`experiment=NAME` applies a named setup after the groups' defaults; those that sweep "
        "run with `bnnrun -m experiment=NAME`.",
        first="experiment",
        values=False,
    )
    lines += ["### Settings of an experiment for one prior (`conf/experiment_prior/`)", ""]
    lines += settings_files(
        conf_dir,
        "experiment_prior",
        "Applied as `experiment_prior/EXPERIMENT_PRIOR.yaml` when that experiment runs with that "
        "prior; the keys are the prior's.",
        first="file",
    )
    lines += [
        "### Settings of an experiment for one inference method (`conf/experiment_inference/`)",
        "",
    ]
    lines += settings_files(
        conf_dir,
        "experiment_inference",
        "Applied as `experiment_inference/EXPERIMENT_METHOD.yaml` when that experiment runs with "
        "that inference method (`svi`, `nuts`); the keys are the method's, so the experiment "
        "composes with the other method too.",
        first="file",
    )
    lines += ["## debug", ""]
    lines += settings_files(
        conf_dir,
        "debug",
        "`debug=NAME` shrinks a run for tests and CI; it goes last, over everything else.",
        first="debug",
        values=False,
    )
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# Command line


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reference, or with ``--check`` say whether the written one is up to date."""
    parser = argparse.ArgumentParser(
        prog="python -m bnnrun.config.reference",
        description="Generate docs/config.md from the config schemas and conf/.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file differs from what would be generated",
    )
    parser.add_argument(
        "--output", type=Path, default=REFERENCE, help=f"the file (default: {REFERENCE})"
    )
    args = parser.parse_args(argv)
    problems = [p for cls in described_schemas() for p in doc_problems(cls)]
    if problems:
        print(f"config reference: {'; '.join(problems)}", file=sys.stderr)
        return ExitCode.FAILED
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.is_file() else None
        if current != text:
            print(f"{_shown(args.output)} is out of date: run `make docs`", file=sys.stderr)
            return ExitCode.FAILED
        return ExitCode.OK
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.output) as tmp:  # a reader never sees half a file
        tmp.write_text(text)
    print(f"wrote {_shown(args.output)}")
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
