"""One look for every alkit figure, readable on a projector.

- **Strategies** get one colour each for the whole session (:func:`strategy_colors`): a name
  keeps the colour it got the first time any figure or dashboard drew it, so the accuracy
  panel, the class-entropy panel and a dashboard beside them agree.
- **Marks** for the labelled set (hollow black squares) and the picks (black crosses) use no
  strategy colour.
- **Classes** colour the pool on every 2-D map (:func:`class_colors`, with a legend).
- **Colour scales** come from robust percentiles; signed scores get a diverging map centred at 0
  (:func:`color_scale`).
- **Sizes**: figures at most :data:`NOTEBOOK_WIDTH_IN` wide, at most four panels per row, text
  at least :data:`MIN_FONT_PT` points.
"""

from __future__ import annotations

import textwrap

import numpy as np

#: Strategy colours: Okabe–Ito without black and yellow, then Paul Tol's muted set.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#d55e00",
    "#cc79a7",
    "#56b4e9",
    "#882255",
    "#999933",
    "#332288",
    "#44aa99",
    "#aa4499",
    "#661100",
)
#: Class colours for pool points (matplotlib's tab10, then tab20's light shades).
CLASS_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
)
#: Colours that are no strategy's: the labelled/picked marks and neutral bars (pool, candidates).
MARK_COLOR = "#000000"
NEUTRAL_DARK = "#4d4d4d"
NEUTRAL_LIGHT = "#b3b3b3"
#: Matplotlib marker styles of the labelled set and the picks on a 2-D map.
LABELED_STYLE = {"marker": "s", "s": 34, "facecolors": "none", "edgecolors": MARK_COLOR, "lw": 1.2}
PICKED_STYLE = {"marker": "X", "s": 70, "c": MARK_COLOR, "edgecolors": "white", "lw": 0.6}
#: Width of a notebook's output area in inches (at matplotlib's 100 dpi) and the smallest text.
NOTEBOOK_WIDTH_IN = 11.0
MIN_FONT_PT = 9.0
MAX_PANELS_PER_ROW = 4

_SESSION_COLORS: dict[str, str] = {}


def strategy_colors(strategies) -> dict[str, str]:
    """``{strategy: colour}`` for ``strategies``; a name keeps the colour it was first given in
    this Python session (first seen, first served), so every figure of a notebook agrees."""
    for name in dict.fromkeys(str(s) for s in strategies):
        if name not in _SESSION_COLORS:
            _SESSION_COLORS[name] = PALETTE[len(_SESSION_COLORS) % len(PALETTE)]
    return {str(s): _SESSION_COLORS[str(s)] for s in dict.fromkeys(strategies)}


def reset_strategy_colors() -> None:
    """Forget the session's strategy colours (the next names start at the first colour)."""
    _SESSION_COLORS.clear()


def class_colors(n_classes: int) -> list[str]:
    """One colour per class index ``0 … n_classes − 1`` (cycling past 16 classes)."""
    return [CLASS_PALETTE[c % len(CLASS_PALETTE)] for c in range(n_classes)]


def wrap_label(name, width: int = 8) -> str:
    """A class name on up to two lines, never cut: ``"Ankle boot"`` → ``"Ankle\\nboot"``."""
    text = str(name)
    if len(text) <= width:
        return text
    return "\n".join(textwrap.wrap(text.replace("/", "/ "), width, break_long_words=False))


def color_scale(values, clip_pct: float = 2.0, signed: bool | None = None) -> dict:
    """Colour limits that one outlier cannot take over: the ``clip_pct`` and
    ``100 − clip_pct`` percentiles of the finite ``values``.

    Signed scores (``signed=True``, or by default when the clipped range spans 0) get
    symmetric limits ``±max(|lo|, |hi|)`` and the diverging ``RdBu_r`` map, so white is 0; the
    rest get ``viridis``. Returns ``vmin``, ``vmax``, ``cmap``, ``signed`` and ``extend``
    (for a colour bar: which ends were clipped).
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"vmin": 0.0, "vmax": 1.0, "cmap": "viridis", "signed": False, "extend": "neither"}
    lo, hi = (float(x) for x in np.percentile(v, [clip_pct, 100 - clip_pct]))
    if signed is None:
        signed = lo < 0 < hi
    if signed:
        m = max(abs(lo), abs(hi)) or 1.0
        lo, hi, cmap = -m, m, "RdBu_r"
    else:
        cmap = "viridis"
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
    below, above = bool((v < lo).any()), bool((v > hi).any())
    extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
        (below, above), "neither"
    )
    return {"vmin": lo, "vmax": hi, "cmap": cmap, "signed": bool(signed), "extend": extend}


def draw_classes(
    ax,
    xy_N_2,
    y_N,
    class_names=None,
    size: float = 9,
    alpha: float = 0.75,
    legend: bool = True,
    zorder: float = 1,
    edgecolor=None,
):
    """Scatter pool points coloured by class (one collection per class, so the legend names
    them); returns the legend or None. Classes absent from ``y_N`` are left out."""
    xy, y = np.asarray(xy_N_2), np.asarray(y_N)
    n_classes = max(int(y.max()) + 1 if y.size else 0, len(class_names or ()))
    colors = class_colors(n_classes)
    for c in np.unique(y):
        rows = y == c
        name = class_names[c] if class_names is not None else c
        ax.scatter(
            *xy[rows].T,
            s=size,
            color=colors[c],
            alpha=alpha,
            lw=0 if edgecolor is None else 0.4,
            edgecolors=edgecolor,
            label=str(name),
            zorder=zorder,
        )
    if not legend:
        return None
    return class_legend(ax)


def class_legend(ax, title: str = "class", below: bool = False):
    """A class legend outside the axes, on the right or ``below`` them (markers enlarged,
    opaque)."""
    where = (
        {"loc": "upper center", "bbox_to_anchor": (0.5, -0.16), "ncols": 5}
        if below
        else {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
    )
    leg = ax.legend(
        title=title,
        frameon=False,
        fontsize=MIN_FONT_PT,
        title_fontsize=MIN_FONT_PT,
        markerscale=2.0,
        **where,
    )
    for handle in leg.legend_handles:
        handle.set_alpha(1.0)
    return leg


def figure_class_legend(fig, ax, title: str = "class", ncols: int = 5):
    """One class legend for a whole figure, under its panels (``ax`` drew the classes with
    :func:`draw_classes`); the labelled/picked marks are left to the panels' own legends."""
    handles, labels = ax.get_legend_handles_labels()
    keep = [i for i, label in enumerate(labels) if label not in ("labelled", "picked")]
    leg = fig.legend(
        [handles[i] for i in keep],
        [labels[i] for i in keep],
        title=title,
        loc="outside lower center",
        ncols=max(1, min(len(keep), ncols)),
        frameon=False,
        markerscale=3.0,
        fontsize=MIN_FONT_PT,
        title_fontsize=MIN_FONT_PT,
    )
    for handle in leg.legend_handles:
        handle.set_alpha(1.0)
    return leg


def shared_legend_below(fig, axes, ncols: int = 2, title=None):
    """One legend under a figure's panels instead of one beside each (long strategy names
    beside a panel squeeze it): the labelled handles of every Axes in ``axes``, each label
    once, in order; the panels' own legends are removed. The figure needs the constrained
    layout (``layout="constrained"``). Returns the legend."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    return fig.legend(
        list(seen.values()),
        list(seen),
        loc="outside lower center",
        ncols=max(1, min(ncols, len(seen))),
        frameon=False,
        fontsize=MIN_FONT_PT,
        title=title,
        title_fontsize=MIN_FONT_PT,
    )


def draw_marks(ax, xy_N_2, labeled_idx=(), picked_idx=()) -> None:
    """The labelled set as hollow black squares and the picks as black crosses (labelled for a
    legend: ``"labelled"``, ``"picked"``)."""
    xy = np.asarray(xy_N_2)
    if len(labeled_idx):
        ax.scatter(*xy[np.asarray(labeled_idx)].T, label="labelled", zorder=3, **LABELED_STYLE)
    if len(picked_idx):
        ax.scatter(*xy[np.asarray(picked_idx)].T, label="picked", zorder=4, **PICKED_STYLE)


def figure_png(fig, dpi: int = 100) -> bytes:
    """The Figure as PNG bytes, cropped like the notebook's inline backend (``bbox_inches``
    tight); a figure pyplot knows about is closed afterwards so it is not shown twice."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)  # a no-op for a Figure made without pyplot
    return buf.getvalue()
