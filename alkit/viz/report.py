"""The figures and self-contained HTML report that ``alkit bench`` writes next to its results."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np
import pandas as pd

from alkit import metrics
from alkit.viz.curves import plot_learning_curves, summarize_curves
from alkit.viz.plots import plot_confusion


def summary_table(results: pd.DataFrame, reference: str = "random") -> pd.DataFrame:
    """One row per strategy: final accuracy and normalised area under the learning curve (mean
    ± std over seeds), and label savings vs ``reference`` on the seed-mean curves."""
    curves = summarize_curves(results)
    rows = []
    ref = curves[curves["strategy"] == reference]
    for strategy, r in results.groupby("strategy", sort=False):
        per_seed = r.sort_values("round").groupby("seed")
        final = per_seed["accuracy"].last()
        auc = per_seed.apply(
            lambda s: metrics.area_under_curve(s["n_labeled"], s["accuracy"]), include_groups=False
        )
        c = curves[curves["strategy"] == strategy]
        savings = (
            metrics.label_savings(c["n_labeled"], c["mean"], ref["n_labeled"], ref["mean"])
            if len(ref) > 1 and strategy != reference
            else np.nan
        )
        rows.append(
            {
                "strategy": strategy,
                "seeds": int(final.size),
                "final labels": int(r["n_labeled"].max()),
                "final accuracy": f"{final.mean():.4f} ± {final.std(ddof=0):.4f}",
                "AUC": f"{auc.mean():.4f} ± {auc.std(ddof=0):.4f}",
                f"label savings vs {reference} (%)": "" if np.isnan(savings) else f"{savings:.1f}",
            }
        )
    return pd.DataFrame(rows)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def write_report(
    results: pd.DataFrame, out: str | os.PathLike, class_names=None, title="alkit benchmark"
) -> Path:
    """Write ``learning_curves.png``, ``confusion_<strategy>.png`` (last round, summed over
    seeds) and a self-contained ``report.html`` embedding them; return the report's path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    ax = plot_learning_curves(results)
    ax.figure.tight_layout()
    ax.figure.savefig(out / "learning_curves.png", dpi=120)
    plt.close(ax.figure)
    figures.append(("Accuracy vs budget", out / "learning_curves.png"))
    last_round = results["round"].max()
    for strategy, r in results.groupby("strategy", sort=False):
        last = r[r["round"] == r["round"].max()]
        cm = np.sum([np.asarray(c) for c in last["confusion"]], axis=0)
        ax = plot_confusion(cm, class_names, title=f"{strategy}, round {last_round}")
        ax.figure.tight_layout()
        path = out / f"confusion_{_slug(strategy)}.png"
        ax.figure.savefig(path, dpi=110)
        plt.close(ax.figure)
        figures.append((f"Confusion matrix: {strategy} (last round, all seeds)", path))
    table = summary_table(results).to_html(index=False, escape=True, border=0)
    imgs = "\n".join(
        f"<figure><img src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}' "
        f"alt='{html.escape(cap)}'><figcaption>{html.escape(cap)}</figcaption></figure>"
        for cap, p in figures
    )
    dataset = html.escape(str(results["dataset"].iloc[0]))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{padding:4px 10px;border-bottom:1px solid #ccc;text-align:left}}
figure{{display:inline-block;margin:10px}}img{{max-width:520px}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Dataset <b>{dataset}</b>; {results["seed"].nunique()} seed(s), rounds 0–{last_round}.</p>
<h2>Summary</h2>{table}
<h2>Figures</h2>{imgs}
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path
