"""Seed 002 (NTKCPL) pictures: the Fig. 1 coverage comparison on a 2-D toy set, a greedy
replay of the look-ahead risk, CPL before and after splitting, and the paper's Table 2 from its
own tables. ``notebooks/05_ntkcpl.ipynb`` wires these functions to widgets.

Coverage (§2, Fig. 1) is the set of pool samples a model trained on L predicts correctly:

- **core-set** assumes full coverage inside the covering radius of L (over-estimates);
- **ProbCover** (pure balls) covers the δ-balls around L with δ the largest radius whose balls
  are pure w.r.t. the pseudo-labels for a fraction α of the pool (under-estimates);
- **NTKCPL** estimates it as the rows where the NTK prediction equals the CPL (eq. 4);
- the **true** coverage: the trained head is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from alkit import metrics
from alkit.errors import AlkitError
from alkit.kernels.cpl import cpl_generation
from alkit.kernels.distances import min_sqdist
from alkit.kernels.ntk import fresh_pntk_factors, pntk_matrix
from alkit.kernels.ntk_lookahead import Posterior, downdate, lookahead_risk, ntk_posterior
from alkit.viz.style import (
    MIN_FONT_PT,
    NEUTRAL_LIGHT,
    NOTEBOOK_WIDTH_IN,
    color_scale,
    draw_classes,
    figure_class_legend,
    strategy_colors,
)


@dataclass
class ToyCoverage:
    """Everything the Fig. 1 panels draw, over the ``N`` pool rows of a 2-D set."""

    X_N_2: np.ndarray
    y_N: np.ndarray
    labeled_idx: np.ndarray
    cpl_N: np.ndarray
    cpl_initial_N: np.ndarray
    confusing_before: np.ndarray
    confusing_after: np.ndarray
    true_covered_N: np.ndarray
    ntk_covered_N: np.ndarray
    coreset_radius: float
    probcover_radius: float
    probcover_covered_N: np.ndarray
    posterior: Posterior

    def agreement(self) -> pd.DataFrame:
        """Each estimate's covered fraction and its agreement with the true coverage."""
        n = len(self.y_N)
        rows = {
            "core-set (full coverage)": np.ones(n, dtype=bool),
            "ProbCover (pure balls)": self.probcover_covered_N,
            "NTKCPL (NTK = CPL)": self.ntk_covered_N,
            "true (trained head right)": self.true_covered_N,
        }
        return pd.DataFrame(
            {
                "covered": [float(v.mean()) for v in rows.values()],
                "agrees with true": [
                    float((v == self.true_covered_N).mean()) for v in rows.values()
                ],
            },
            index=list(rows),
        )


def pure_radius(X_N_D, labels_N, alpha: float = 0.95) -> float:
    """ProbCover's δ: the largest radius whose balls around a fraction ≥ ``alpha`` of the rows
    hold only rows of their own pseudo-label (distances to the nearest other-label row)."""
    X = torch.as_tensor(np.asarray(X_N_D, dtype=np.float32))
    labels = np.asarray(labels_N)
    d_other = np.empty(len(X))
    for c in np.unique(labels):
        inside = np.flatnonzero(labels == c)
        outside = np.flatnonzero(labels != c)
        if len(outside) == 0:
            d_other[inside] = np.inf
            continue
        d, _ = min_sqdist(X[inside], X[outside])
        d_other[inside] = np.sqrt(d.double().numpy())
    return float(np.quantile(d_other, 1.0 - alpha))


def toy_coverage(
    X_N_2,
    y_N,
    labeled_idx,
    y_pred_N,
    n_clusters: int,
    c0: int | None = None,
    seed: int = 0,
    hidden: int = 64,
    ridge: float = 1e-5,
    bn: str = "pool",
    alpha: float = 0.95,
    cpl_features_N_D=None,
) -> ToyCoverage:
    """The Fig. 1 comparison on a small 2-D pool (the ``N × N`` NTK posterior is built: toy
    sizes only). ``y_pred_N`` are a trained head's predictions (the true coverage and Alg. 2's
    Y_pre); CPL = Alg. 2 on ``cpl_features_N_D`` (default: the coordinates, NTKCPL(self); a
    trained head's embedding gives NTKCPL(al)) from ``c0`` (default: the labelled classes) to
    ``n_clusters`` clusters; the NTK is a fresh head's pNTK on the coordinates with CPL targets
    on L."""
    X = np.asarray(X_N_2, dtype=np.float64)
    y = np.asarray(y_N, dtype=np.int64)
    L = np.asarray(labeled_idx, dtype=np.int64)
    y_pred = np.asarray(y_pred_N, dtype=np.int64).copy()
    y_pred[L] = y[L]
    c0 = len(np.unique(y[L])) if c0 is None else c0
    feats = X if cpl_features_N_D is None else np.asarray(cpl_features_N_D, dtype=np.float64)
    cpl = cpl_generation(feats, y_pred, c0, n_clusters, L, y[L], seed=seed)
    labels = cpl["labels"]
    k = int(labels.max()) + 1
    f = fresh_pntk_factors(X, k, hidden, bn, seed)
    theta = pntk_matrix(f, f)
    Lt = torch.as_tensor(L)
    R = torch.nn.functional.one_hot(torch.as_tensor(labels[L]), k).double() - f.outputs_N_C[Lt]
    lam = ridge * float(theta[Lt][:, Lt].diagonal().mean())
    post = ntk_posterior(theta, theta[:, Lt], theta[Lt][:, Lt], R, f.outputs_N_C, lam)
    dist, _ = min_sqdist(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(X[L]))
    dist = np.sqrt(dist.double().numpy())
    delta = pure_radius(X, labels, alpha)
    return ToyCoverage(
        X_N_2=X,
        y_N=y,
        labeled_idx=L,
        cpl_N=labels,
        cpl_initial_N=cpl["initial_labels"],
        confusing_before=cpl["confusing_before"],
        confusing_after=cpl["confusing"],
        true_covered_N=y_pred == y,
        ntk_covered_N=post.F_M_K.argmax(1).numpy() == labels,
        coreset_radius=float(dist.max()),
        probcover_radius=delta,
        probcover_covered_N=dist <= delta,
        posterior=post,
    )


def plot_coverage_panels(state: ToyCoverage, axes=None, class_names=None):
    """Fig. 1 analogue: core-set disks, ProbCover balls, NTKCPL's estimate, the true coverage.

    Four panels in one row as wide as a notebook, equal aspect (the axes are the inputs); pool
    points in their class colour (one class legend under the panels when this function makes
    the figure), covered points as small black dots, the labelled set as black stars."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    own_figure = axes is None
    if own_figure:
        _, axes = plt.subplots(1, 4, figsize=(NOTEBOOK_WIDTH_IN, 3.9), layout="constrained")
    X, L = state.X_N_2, state.labeled_idx
    panels = [
        ("core-set: full coverage", None, state.coreset_radius),
        ("ProbCover: pure balls", state.probcover_covered_N, state.probcover_radius),
        ("NTKCPL: NTK prediction = CPL", state.ntk_covered_N, None),
        ("true: trained head correct", state.true_covered_N, None),
    ]
    for ax, (title, covered, radius) in zip(axes, panels, strict=True):
        draw_classes(ax, X, state.y_N, class_names, size=10, alpha=0.45, legend=False)
        if covered is not None:
            ax.scatter(X[covered, 0], X[covered, 1], c="black", s=3)
        if radius is not None:
            for p in X[L]:
                ax.add_patch(Circle(p, radius, color="tab:blue", alpha=0.12))
        ax.scatter(X[L, 0], X[L, 1], marker="*", s=160, c="black", edgecolors="white")
        frac = 1.0 if covered is None else float(covered.mean())
        ax.set_title(f"{title}\ncovered {frac:.0%}", fontsize=MIN_FONT_PT)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    if own_figure:
        figure_class_legend(
            axes[0].figure, axes[0], title="class (black dots: covered; stars: labelled)"
        )
    return axes


@dataclass
class GreedyReplay:
    """The risk of every candidate at each greedy step (``risk_T_N``, NaN for rows that are not
    candidates at that step), the picks and the risk each was chosen with."""

    risk_T_N: np.ndarray
    picks: np.ndarray
    risk_trace: np.ndarray


def greedy_replay(state: ToyCoverage, b: int) -> GreedyReplay:
    """Alg. 1's greedy loop on the toy, keeping every step's risk map (``b × N``); the pool's
    unlabelled rows are the candidates and the evaluation set."""
    post = Posterior(
        state.posterior.F_M_K.clone(), state.posterior.A_M_M.clone(), state.posterior.ridge
    )
    n = len(state.y_N)
    active = np.ones(n, dtype=bool)
    active[state.labeled_idx] = False
    risks = np.full((b, n), np.nan)
    picks, trace = [], []
    for t in range(b):
        cand = np.flatnonzero(active)
        r = lookahead_risk(
            post.F_M_K, post.A_M_M, state.cpl_N, cand, post.ridge, eval_mask_M=active
        ).numpy()
        risks[t, cand] = r
        j = int(cand[int(np.argmin(r))])
        picks.append(j)
        trace.append(int(r.min()))
        downdate(post, j, int(state.cpl_N[j]))
        active[j] = False
    return GreedyReplay(risks, np.asarray(picks), np.asarray(trace))


def risk_frame(replay: GreedyReplay, step: int) -> dict:
    """What the step slider shows at greedy step ``step`` (1-based): the risk map of that step,
    the picks made before it, the pick it makes, and the risk trace up to it."""
    t = int(step) - 1
    if not 0 <= t < len(replay.picks):
        raise ValueError(f"step must be in 1…{len(replay.picks)}, got {step}")
    return {
        "risk_N": replay.risk_T_N[t],
        "before": replay.picks[:t],
        "pick": int(replay.picks[t]),
        "trace": replay.risk_trace[: t + 1],
    }


def plot_risk_map(state: ToyCoverage, replay: GreedyReplay, step: int, axes=None):
    """Left: the look-ahead risk of adding each candidate at ``step`` (darker = lower = better;
    colour limits at the 2nd/98th percentiles), labelled set (stars), earlier picks (squares)
    and this pick (red cross). Right: the trace."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(
            1, 2, figsize=(NOTEBOOK_WIDTH_IN, 4.2), width_ratios=[1.4, 1], layout="constrained"
        )
    frame = risk_frame(replay, step)
    X, L = state.X_N_2, state.labeled_idx
    ax = axes[0]
    ok = np.isfinite(frame["risk_N"])
    scale = color_scale(frame["risk_N"][ok], signed=False)  # robust: a few outliers do not rule
    sc = ax.scatter(X[ok, 0], X[ok, 1], c=frame["risk_N"][ok], cmap=scale["cmap"], s=10,
                    vmin=scale["vmin"], vmax=scale["vmax"])  # fmt: skip
    plt.colorbar(sc, ax=ax, label="risk after adding the point", extend=scale["extend"])
    ax.scatter(X[L, 0], X[L, 1], marker="*", s=150, c="white", edgecolors="black")
    b = frame["before"]
    ax.scatter(X[b, 0], X[b, 1], marker="s", s=60, facecolors="none", edgecolors="black")
    ax.scatter(*X[frame["pick"]], marker="x", s=140, c="red", linewidths=3)
    ax.set_title(f"greedy step {step}: pick = lowest risk")
    ax.set_aspect("equal")
    axes[1].plot(np.arange(1, len(frame["trace"]) + 1), frame["trace"], marker="o")
    axes[1].set_xlim(0.5, len(replay.picks) + 0.5)
    axes[1].set_ylim(0, max(1, replay.risk_trace.max()) * 1.05)
    axes[1].set_xlabel("picks")
    axes[1].set_ylabel("0-1 risk vs CPL (rows)")
    axes[1].set_title("risk trace")
    return axes


def plot_cpl_split(state: ToyCoverage, axes=None):
    """CPL before (constrained k-means) and after splitting (Alg. 2), and the confusing counts
    of the clusters (before: initial ids; after: all ids)."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(NOTEBOOK_WIDTH_IN, 3.8), layout="constrained")
    X, L = state.X_N_2, state.labeled_idx
    for ax, labels, title in (
        (axes[0], state.cpl_initial_N, "constrained k-means (C_0 clusters)"),
        (axes[1], state.cpl_N, "after splitting the most confusing"),
    ):
        ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="tab20", s=8)
        ax.scatter(X[L, 0], X[L, 1], marker="*", s=150, c="black", edgecolors="white")
        ax.set_title(f"{title}:\n{int(labels.max()) + 1} clusters", fontsize=MIN_FONT_PT + 1)
        ax.set_aspect("equal", adjustable="datalim")
    k0, k = len(state.confusing_before), len(state.confusing_after)
    axes[2].bar(np.arange(k0) - 0.2, state.confusing_before, width=0.4, label="before")
    axes[2].bar(np.arange(k) + 0.2, state.confusing_after, width=0.4, label="after")
    axes[2].set_xlabel("cluster id")
    axes[2].set_ylabel("confusing samples (Y_pre ≠ dominant)")
    axes[2].legend(frameon=False, fontsize=MIN_FONT_PT)
    return axes


def read_paper_tables(path) -> dict:
    """The paper's accuracy tables (TSV with ``## dataset`` headers, ``mean±std`` cells):
    ``{dataset: DataFrame(index=labels, columns=methods, values=(mean, std) tuples)}``."""
    tables, name, cols, rows = {}, None, None, []

    def flush():
        if name is not None:
            tables[name] = pd.DataFrame(dict(rows), index=cols).T

    for line in Path(path).read_text().splitlines():
        if line.startswith("## "):
            flush()
            name, rows = line[3:], []
        elif line.startswith("# Labels"):
            cols = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            parts = line.split("\t")
            rows.append((int(parts[0]), [tuple(map(float, p.split("±"))) for p in parts[1:]]))
    flush()
    return tables


def ebr_table(tables: dict, methods=("TypiClust", "BADGE", "NTKCPL(al)")) -> pd.DataFrame:
    """Table 2 from the accuracy tables: the effective budget ratio (%) per dataset in the axis
    reading, their mean, and the points reading pooled over every budget point."""
    out = {}
    for method in methods:
        col, pooled, n_pts = {}, 0.0, 0
        for name, df in tables.items():
            if method not in df.columns:
                continue
            b = df.index.to_numpy()
            m = np.array([v[0] for v in df[method]])
            rm = np.array([v[0] for v in df["Random"]])
            rs = np.array([v[1] for v in df["Random"]])
            col[name] = 100 * metrics.effective_budget_ratio(b, m, rm, rs, mode="axis")
            pooled += metrics.effective_budget_ratio(b, m, rm, rs, mode="points") * len(b)
            n_pts += len(b)
        col["mean (axis)"] = float(np.mean(list(col.values())))
        col["pooled points"] = 100 * pooled / n_pts
        out[method] = col
    return pd.DataFrame(out).round(1)


def _per_budget(results: pd.DataFrame, strategy: str, metric: str) -> pd.DataFrame:
    rows = results[results["strategy"] == strategy]
    if rows.empty:
        raise AlkitError(f"strategy {strategy!r} is not in the results")
    return rows.groupby("n_labeled")[metric].agg(
        mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else np.nan, size="size"
    )


def _with_reference(results, strategy, ref, metric) -> pd.DataFrame:
    own = _per_budget(results, strategy, metric)
    return own.merge(ref, left_index=True, right_index=True, suffixes=("", "_ref"))


def results_ebr(results: pd.DataFrame, reference: str = "random", metric: str = "accuracy"):
    """Table 2 of a run: every strategy's effective budget ratio (both readings, %) and mean AL
    gain against ``reference``, from the seed means and the reference's sample std (ddof=1,
    so at least 2 seeds). Rows are matched by the number of labels."""
    ref = _per_budget(results, reference, metric)
    if int(ref["size"].min()) < 2:
        raise AlkitError("the effective budget ratio needs ≥ 2 seeds of the reference strategy")
    out = {}
    for strategy in dict.fromkeys(results["strategy"]):
        if strategy == reference:
            continue
        s = _with_reference(results, strategy, ref, metric)
        b, m = s.index.to_numpy(dtype=float), s["mean"].to_numpy()
        rm, rs = s["mean_ref"].to_numpy(), s["std_ref"].to_numpy()
        out[strategy] = {
            "EBR axis %": 100 * metrics.effective_budget_ratio(b, m, rm, rs, "axis"),
            "EBR points %": 100 * metrics.effective_budget_ratio(b, m, rm, rs, "points"),
            "mean AL gain": float(metrics.al_gain(m, rm).mean()),
        }
    return pd.DataFrame(out).T.round(3)


def plot_al_gain(results: pd.DataFrame, reference: str = "random", ax=None, metric="accuracy"):
    """AL gain (Fig. 3): each strategy's mean accuracy minus the reference's, per label count,
    with the reference's ±1 std band (the effectiveness threshold of Table 2); every strategy in
    its session colour (:func:`~alkit.viz.style.strategy_colors`, the same as in the learning
    curves beside it)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    ref = _per_budget(results, reference, metric)
    b = ref.index.to_numpy(dtype=float)
    std = ref["std"].fillna(0.0).to_numpy()
    ax.fill_between(b, -std, std, color=NEUTRAL_LIGHT, alpha=0.5, label=f"{reference} ± std")
    ax.axhline(0.0, color="grey", lw=1)
    colors = strategy_colors(results["strategy"])
    for strategy in colors:
        if strategy == reference:
            continue
        s = _with_reference(results, strategy, ref, metric)
        gain = metrics.al_gain(s["mean"], s["mean_ref"])
        ax.plot(
            s.index.to_numpy(dtype=float), gain, marker="o", label=strategy, color=colors[strategy]
        )
    ax.set_xlabel("labels")
    ax.set_ylabel(f"{metric} − {reference}")
    ax.set_title("AL gain")
    ax.legend(fontsize=MIN_FONT_PT, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
