"""``report.html`` in a real browser: Debian's Chromium (``/usr/bin/chromium``), driven by
playwright with no browser of its own. A small sweep (2 priors x 2 seeds, ``debug=smoke``) is
run once through the CLI; the page must sort its tables as pandas sorts ``summary.csv``, hide
the rows a filter rules out, link only to files that exist (and fetch nothing from a network),
show the command that made the sweep and the settings every run shares, and log no JavaScript
error. Skipped where Chromium or playwright is absent (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
import yaml

from bnnrun.cli.report import main as report_main
from bnnrun.sweep.report import COMMAND, command_line, read_command, run_links

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["-m", "debug=smoke", "runtime.progress=false", "prior=normal,laplace", "seed=0,1"]

browser_test = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="Chromium is not installed (apt-get install chromium)"
)


# --- without a browser ----------------------------------------------------------------------


def test_command_line_is_shell_quoted_and_says_where_it_ran() -> None:
    argv = ["/venv/bin/bnnrun", "-m", "dataset.path=my data.csv", "prior=normal,laplace"]
    assert command_line(argv, "/home/me/my project") == (
        "cd '/home/me/my project' && bnnrun -m 'dataset.path=my data.csv' prior=normal,laplace"
    )


def test_the_command_is_read_back_or_rebuilt_from_multirun_yaml(tmp_path: Path) -> None:
    assert read_command(tmp_path) is None  # neither file: the page says it was not recorded
    overrides = {"hydra": ["hydra.sweep.dir=out/s", "hydra.mode=MULTIRUN"],
                 "task": ["prior=normal,laplace", "seed=0,1"]}  # fmt: skip
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": overrides}}))
    rebuilt = read_command(tmp_path)
    assert rebuilt is not None
    assert rebuilt.text == "bnnrun -m hydra.sweep.dir=out/s prior=normal,laplace seed=0,1"
    (tmp_path / COMMAND).write_text("cd /w && bnnrun -m seed=0,1\n")
    assert read_command(tmp_path).text == "cd /w && bnnrun -m seed=0,1"


def test_run_links_name_config_log_metrics_then_every_other_file() -> None:
    names = {".hydra", ".bnnrun.lock", "bnnrun.log", "metrics.json", "elbo.csv", "elbo.png",
             "weights.pdf", "posterior.nc"}  # fmt: skip
    assert run_links("r", names) == [
        ("r/", "dir"),
        ("r/.hydra/config.yaml", "config"),
        ("r/.hydra/overrides.yaml", "overrides"),
        ("r/bnnrun.log", "log"),
        ("r/metrics.json", "metrics"),
        ("r/elbo.csv", "elbo.csv"),
        ("r/posterior.nc", "posterior.nc"),
    ]  # figures (elbo.png, weights.pdf) are the figures column's; the lock is hidden


# --- in Chromium ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "sweep"
    env = {**os.environ, "BNNRUN_CACHE_DIR": str(cache_dir)}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bnnrun", *ARGS, f"hydra.sweep.dir={root}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        # Debian's Chromium, not a downloaded one; no sandbox, as root in a container.
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Page:
    """A page of the browser with report.html open, and what it logged and requested."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else 0)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")

    def run_order(self) -> list[str]:
        """The runs table's rows, top to bottom, by run directory."""
        return self.page.eval_on_selector_all(
            "#runs-table tbody tr", "rows => rows.map(r => r.dataset.run)"
        )

    def shown_runs(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#runs-table tbody tr", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.run)"
        )

    def header(self, table: str, text: str) -> Any:
        return self.page.locator(f"#{table} thead th", has_text=text).first


@pytest.fixture
def page(browser: Any, sweep: Path) -> Iterator[Page]:
    opened = Page(browser, sweep / "report.html")
    yield opened
    opened.page.close()
    assert opened.errors == []  # no JavaScript error on the console, in any test


@pytest.mark.slow
@browser_test
def test_clicking_a_header_sorts_the_rows_as_pandas_does(page: Page, sweep: Path) -> None:
    runs = pd.read_csv(sweep / "summary.csv")
    assert page.run_order() == list(runs["run_dir"])  # the page starts in summary.csv's order
    # A metric whose order differs from the page's first order, so sorting must move rows.
    name, label = next(
        (m, label)
        for m, label in (("nll", "NLL"), ("ece", "ECE"), ("accuracy", "accuracy"))
        if list(runs.sort_values(m, kind="stable")["run_dir"]) != list(runs["run_dir"])
    )
    page.header("runs-table", label).click()
    assert page.run_order() == list(runs.sort_values(name, kind="stable")["run_dir"])
    page.header("runs-table", label).click()
    descending = runs.sort_values(name, ascending=False, kind="stable")["run_dir"]
    assert page.run_order() == list(descending)
    assert page.header("runs-table", label).get_attribute("aria-sort") == "descending"
    # The configurations table sorts "mean ± SE [CI]" cells by their mean, not their text.
    table = pd.read_csv(sweep / "summary_by_config.csv")
    page.header("configurations-table", "NLL mean").click()
    priors = page.page.eval_on_selector_all(
        "#configurations-table tbody tr", "rows => rows.map(r => r.cells[0].textContent)"
    )
    assert priors == list(table.sort_values("nll_mean", kind="stable")["prior"])


@pytest.mark.slow
@browser_test
def test_the_filter_box_hides_the_rows_without_its_words(page: Page, sweep: Path) -> None:
    runs = pd.read_csv(sweep / "summary.csv")
    box = page.page.locator('input.filter[data-table="runs-table"]')
    box.fill("laplace")
    assert page.shown_runs() == list(runs[runs["prior"] == "laplace"]["run_dir"])
    assert box.locator("xpath=following-sibling::span").inner_text() == "2 of 4 rows"
    box.fill("normal ok")  # every word must be in the row
    assert page.shown_runs() == list(runs[runs["prior"] == "normal"]["run_dir"])
    box.fill("no such run")
    assert page.shown_runs() == []
    box.fill("")
    assert page.shown_runs() == list(runs["run_dir"])


@pytest.mark.slow
@browser_test
def test_every_link_and_image_resolves_to_a_file_and_nothing_is_fetched(
    page: Page, sweep: Path
) -> None:
    p = page.page
    # Thumbnails load lazily: load them all now, to check that each one decodes.
    p.eval_on_selector_all("img", "imgs => imgs.forEach(i => { i.loading = 'eager'; })")
    p.wait_for_function("Array.from(document.images).every(i => i.complete)")
    broken = p.eval_on_selector_all(
        "img", "imgs => imgs.filter(i => i.naturalWidth === 0).map(i => i.src)"
    )
    assert broken == []
    targets = p.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    targets += p.eval_on_selector_all("img[src]", "imgs => imgs.map(i => i.src)")
    ids = set(p.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
    files = set()
    for target in targets:
        url = urlparse(target)
        assert url.scheme == "file", target
        if url.fragment:  # the table of contents: a heading of this page
            assert url.fragment in ids, target
        else:
            path = Path(unquote(url.path))
            assert path.exists(), target
            files.add(path.resolve())
    assert all(urlparse(u).scheme == "file" for u in page.requests), page.requests
    # Every run's config, log, metrics, figures and posterior files are linked.
    runs = pd.read_csv(sweep / "summary.csv")
    for run_dir in runs["run_dir"]:
        d = (sweep / run_dir).resolve()
        figures = [f for suffix in ("png", "svg", "pdf") for f in d.glob(f"*.{suffix}")]
        wanted = [d / ".hydra" / "config.yaml", d / "bnnrun.log", d / "metrics.json",
                  d / "posterior.nc", *figures]  # fmt: skip
        assert len(wanted) > 5
        assert [w for w in wanted if w not in files] == []
    # The sweep's figures, the ELBO overlay among them, are shown.
    elbo = sorted((sweep / "plots").glob("elbo_*"))
    assert elbo and all(f.resolve() in files for f in (sweep / "plots").iterdir())
    toc = p.eval_on_selector_all("#toc a", "links => links.map(a => a.textContent)")
    assert "Training curves" in toc and "Runs" in toc and "Verdict" in toc


@pytest.mark.slow
@browser_test
def test_the_page_shows_the_command_and_the_constant_settings_once(page: Page, sweep: Path) -> None:
    p = page.page
    expected = f"cd {shlex.quote(str(REPO))} && " + shlex.join(
        ["bnnrun", *ARGS, f"hydra.sweep.dir={sweep}"]
    )
    assert p.inner_text("#command") == expected
    assert (sweep / COMMAND).read_text() == expected + "\n"
    settings = dict(
        zip(p.eval_on_selector_all("dl.settings dt", "e => e.map(x => x.textContent)"),
            p.eval_on_selector_all("dl.settings dd", "e => e.map(x => x.textContent)"),
            strict=True)
    )  # fmt: skip
    assert settings == {"dataset": "moons", "hyperprior": "fixed", "debug": "smoke"}
    heads = p.eval_on_selector_all("#runs-table thead th", "e => e.map(x => x.textContent)")
    assert heads[:3] == ["prior", "seed", "status"]
    assert not {"dataset", "hyperprior", "debug"} & set(heads)


@pytest.mark.slow
@browser_test
def test_the_best_value_of_each_metric_column_is_highlighted(page: Page, sweep: Path) -> None:
    runs = pd.read_csv(sweep / "summary.csv")
    p = page.page
    heads = p.eval_on_selector_all("#runs-table thead th", "e => e.map(x => x.textContent)")
    for name, label, higher in (("nll", "NLL", False), ("accuracy", "accuracy", True)):
        column = heads.index(label)
        best = runs[name].max() if higher else runs[name].min()
        marked = p.eval_on_selector_all(
            "#runs-table tbody tr",
            f"rows => rows.filter(r => r.cells[{column}].classList.contains('best'))"
            ".map(r => r.dataset.run)",
        )
        assert marked == list(runs[runs[name] == best]["run_dir"])


@pytest.mark.slow
@browser_test
def test_bnnrun_report_rebuilds_the_page_with_the_recorded_command(
    browser: Any, sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sweep / "report.html").unlink()
    report_main([str(sweep)])
    assert "4 runs (4 ok)" in capsys.readouterr().out
    rebuilt = Page(browser, sweep / "report.html")
    assert rebuilt.page.inner_text("#command") == (sweep / COMMAND).read_text().strip()
    assert len(rebuilt.run_order()) == 4 and rebuilt.errors == []
    rebuilt.page.close()
