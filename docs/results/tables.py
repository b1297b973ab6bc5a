"""The tables of docs/results.md, from the committed CSV and JSON files beside this script.

    python docs/results/tables.py            # every table, as Markdown
    python docs/results/tables.py paper_grid # one of them

Each table is computed from ``summary.csv`` (one row per run) or ``summary_by_config.csv`` (mean,
sample standard deviation and count over seeds, as the sweep wrote it), never typed by hand.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
PRIORS = ["normal", "laplace", "cauchy", "flat"]
HYPERPRIORS = ["fixed", "half_normal", "half_cauchy", "inverse_gamma"]


def runs(name: str) -> pd.DataFrame:
    return pd.read_csv(HERE / name / "summary.csv")


def by_config(name: str) -> pd.DataFrame:
    return pd.read_csv(HERE / name / "summary_by_config.csv")


def select(frame: pd.DataFrame, **values: str) -> pd.DataFrame:
    """The rows of ``frame`` whose columns hold ``values``."""
    mask = pd.Series(True, index=frame.index)
    for col, value in values.items():
        mask &= frame[col] == value
    return frame[mask]


def markdown(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(row: pd.Series, metric: str, digits: int = 3) -> str:
    return f"{row[f'{metric}_mean']:.{digits}f} ± {row[f'{metric}_std']:.{digits}f}"


def prior_grid(frame: pd.DataFrame, cell: Callable[[pd.DataFrame], str]) -> str:
    """One Markdown table per data set, prior x hyperprior, each cell ``cell(rows)`` of that
    combination's rows of ``frame`` ("—" where it has none)."""
    out = []
    for dataset in ("moons", "circles"):
        rows = []
        for prior in PRIORS:
            cells = [f"`{prior}`"]
            for hyper in HYPERPRIORS:
                hit = select(frame, dataset=dataset, prior=prior, hyperprior=hyper)
                cells.append("—" if hit.empty else cell(hit))
            rows.append(cells)
        out.append(f"**{dataset}**\n\n" + markdown(["prior", *HYPERPRIORS], rows))
    return "\n\n".join(out)


def paper_grid() -> str:
    """Accuracy mean ± std over seeds (NLL mean), prior x hyperprior, per data set."""

    def cell(hit: pd.DataFrame) -> str:
        r = hit.iloc[0]
        return f"{mean_std(r, 'accuracy')} ({r['nll_mean']:.3f})"

    return prior_grid(by_config("paper_grid"), cell)


def _ci(row: pd.Series, metric: str, digits: int = 3) -> str:
    cell = (
        f"{row[f'{metric}_mean']:.{digits}f} "
        f"[{row[f'{metric}_ci_low']:.{digits}f}, {row[f'{metric}_ci_high']:.{digits}f}]"
    )
    return cell + (" **B**" if str(row.get(f"{metric}_bimodal")) == "True" else "")


def paper_grid_10() -> str:
    """Accuracy mean [95% t interval] over seeds 0-9, **B** where the seeds are bimodal; per
    data set, prior x hyperprior."""
    return prior_grid(by_config("paper_grid_10"), lambda hit: _ci(hit.iloc[0], "accuracy"))


def paper_grid_10_verdict() -> str:
    """Per data set: the best configuration by mean accuracy, the configurations no paired
    test separates from it, and how many of all pairs differ beyond chance (Wilcoxon signed
    rank by seed, Benjamini-Hochberg over every pair and metric of the sweep)."""
    table = by_config("paper_grid_10")
    pairs = pd.read_csv(HERE / "paper_grid_10" / "comparisons.csv")
    rows = []
    for dataset in ("moons", "circles"):
        sel = table[table.dataset == dataset].sort_values("accuracy_mean", ascending=False)
        best = sel.iloc[0]
        label = f"prior={best.prior}, hyperprior={best.hyperprior}"
        acc = pairs[(pairs.dataset == dataset) & (pairs.metric == "accuracy")]
        with_best = acc[(acc.config_a == label) | (acc.config_b == label)]
        level = with_best[~with_best.differs.astype(bool)]
        others = sorted(
            (r.config_b if r.config_a == label else r.config_a) for r in level.itertuples()
        )
        rows.append(
            [
                dataset,
                f"{label}: {_ci(best, 'accuracy')}",
                "; ".join(others) or "none",
                f"{int(acc.differs.astype(bool).sum())} of {len(acc)}",
                f"{int(sel.accuracy_bimodal.astype(str).eq('True').sum())} of {len(sel)}",
            ]
        )
    head = ["data", "best (accuracy)", "not separated from the best", "pairs that differ"]
    return markdown([*head, "bimodal configurations"], rows)


def paper_grid_seeds() -> str:
    """Test accuracy of every run of the paper's grid, seeds 0 / 1 / 2."""

    def cell(hit: pd.DataFrame) -> str:
        return " / ".join(f"{a:.3f}" for a in hit.sort_values("seed").accuracy)

    return prior_grid(runs("paper_grid"), cell)


def moons_inverse_gamma_seeds() -> str:
    """Moons, normal prior, inverse-gamma hyperprior: seeds 0-2 (the paper grid) and 3-7."""
    grid = select(runs("paper_grid"), dataset="moons", prior="normal", hyperprior="inverse_gamma")
    frame = pd.concat([grid, runs("moons_inverse_gamma_seeds")]).sort_values("seed")
    rows = [
        [str(r.seed), f"{r.accuracy:.3f}", f"{r.nll:.3f}", f"{r.elbo_final:.1f}"]
        for r in frame.itertuples()
    ]
    return markdown(["seed", "accuracy", "NLL", "final ELBO"], rows)


def log_grid() -> str:
    """Accuracy mean ± std over seeds (NLL mean) against the fixed prior scale."""
    table = by_config("log_grid")
    scales = sorted(table["prior.scale"].unique())
    rows = []
    for dataset in ("moons", "circles"):
        for prior in PRIORS[:3]:
            sel = table[(table.dataset == dataset) & (table.prior == prior)]
            cells = [dataset, f"`{prior}`"]
            for s in scales:
                r = sel[sel["prior.scale"] == s].iloc[0]
                cells.append(f"{mean_std(r, 'accuracy')} ({r['nll_mean']:.3f})")
            rows.append(cells)
    return markdown(["data", "prior", *(f"{s:g}" for s in scales)], rows)


def transfer(name: str) -> str:
    """Test accuracy, NLL and ECE per prior (mean ± std over seeds), and informed - normal per
    seed (same training images)."""
    table = by_config(name).set_index("prior")
    frame = runs(name)
    rows = []
    for prior in ("normal", "informed"):
        r = table.loc[prior]
        rows.append(
            [f"`{prior}`", *(mean_std(r, m, 4) for m in ("accuracy", "nll", "ece")), str(r.ok)]
        )
    wide = frame.pivot(index="seed", columns="prior", values=["accuracy", "nll", "ece"])
    diff = [wide[m]["informed"] - wide[m]["normal"] for m in ("accuracy", "nll", "ece")]
    rows.append(
        [
            "informed − normal, per seed",
            *(f"{d.mean():+.4f} (" + ", ".join(f"{v:+.4f}" for v in d) + ")" for d in diff),
            str(len(wide)),
        ]
    )
    return markdown(["prior", "accuracy", "NLL", "ECE", "runs"], rows)


def pretrain(name: str) -> str:
    """The pretraining run of a transfer sweep, on the source classes."""
    m = json.loads((HERE / name / "pretrain_metrics.json").read_text())
    return (
        f"Pretraining: accuracy {m['accuracy']:.4f}, NLL {m['nll']:.4f} on {m['num_test']} "
        f"test images of the source classes ({m['num_train']} training images)."
    )


def noncentred() -> str:
    """Inverse-gamma hyperprior: centred (the paper grid's runs) against non-centred."""
    cen = by_config("paper_grid")
    cen = cen[cen.hyperprior == "inverse_gamma"]
    non = by_config("noncentred")
    rows = []
    for dataset in ("moons", "circles"):
        for prior in PRIORS[:3]:
            cells = [dataset, f"`{prior}`"]
            for t in (cen, non):
                r = t[(t.dataset == dataset) & (t.prior == prior)].iloc[0]
                cells += [mean_std(r, "accuracy"), mean_std(r, "nll"), mean_std(r, "elbo_final", 1)]
            rows.append(cells)
    head = ["data", "prior", "centred: accuracy", "NLL", "ELBO"]
    return markdown([*head, "non-centred: accuracy", "NLL", "ELBO"], rows)


def guides() -> str:
    """Learned (inverse-gamma) scale on moons at noise 0.45, by guide: accuracy per seed."""
    frame = pd.concat(
        [
            runs("paper_grid")
            .query("dataset == 'moons' and prior == 'normal' and hyperprior == 'inverse_gamma'")
            .assign(**{"inference.guide": "normal"}),
            runs("guides_learned_scale"),
        ]
    )
    rows = []
    for guide, sel in frame.groupby("inference.guide", sort=False):
        sel = sel.sort_values("seed")
        rows.append(
            [
                f"`{guide}`",
                " / ".join(f"{a:.3f}" for a in sel.accuracy),
                f"{sel.accuracy.mean():.3f} ± {sel.accuracy.std():.3f}",
                f"{sel.nll.mean():.3f}",
            ]
        )
    return markdown(["guide", "accuracy, seeds 0 / 1 / 2", "mean ± std", "NLL mean"], rows)


def nuts() -> str:
    """The NUTS reference runs on moons at noise 0.45, seed 0."""
    rows = []
    for name, label in (
        ("nuts_fixed", "normal(0, 1), fixed scale"),
        ("nuts_inverse_gamma", "normal, inverse-gamma hyperprior, non-centred"),
    ):
        m = json.loads((HERE / name / "metrics.json").read_text())
        rows.append(
            [
                label,
                f"{m['accuracy']:.3f}",
                f"{m['nll']:.3f}",
                f"{m['r_hat_max']:.3f}",
                f"{m['ess_bulk_min']:.0f}",
                str(m["num_divergent"]),
                f"{m['fit_seconds']:.0f}",
            ]
        )
    head = ["NUTS, 4 × (1000 + 1000)", "accuracy", "NLL", "max R-hat", "min bulk ESS"]
    return markdown([*head, "divergent", "fit (s)"], rows)


TABLES: dict[str, Callable[[], str]] = {
    "paper_grid_10": paper_grid_10,
    "paper_grid_10_verdict": paper_grid_10_verdict,
    "paper_grid": paper_grid,
    "paper_grid_seeds": paper_grid_seeds,
    "moons_inverse_gamma_seeds": moons_inverse_gamma_seeds,
    "log_grid": log_grid,
    "transfer_digits": lambda: transfer("transfer_digits") + "\n\n" + pretrain("transfer_digits"),
    "transfer_fmnist": lambda: transfer("transfer_fmnist") + "\n\n" + pretrain("transfer_fmnist"),
    "noncentred": noncentred,
    "guides": guides,
    "nuts": nuts,
}


def main(names: list[str]) -> None:
    for name in names or list(TABLES):
        print(f"<!-- {name} -->\n{TABLES[name]()}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
