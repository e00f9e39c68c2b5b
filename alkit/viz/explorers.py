"""The notebooks' widget dashboards, each a :class:`~alkit.viz.dashboard.FigureDashboard` (explicit
``observe`` callbacks, figure drawn directly, headless-safe) around a plain plotting function:

- :class:`PicksExplorer` (01): strategy and batch size → :func:`~alkit.viz.draw_picks` and the
  classes of the picks;
- :class:`FisherExplorer` (02): S, L, imbalance and round →
  :func:`~alkit.viz.fisher.fisher_explorer`;
- :class:`LikelihoodExplorer` (03): EM iterations → :func:`~alkit.viz.gmm.toy_likelihood_maps`;
- :class:`MetricExplorer` (03): cycle and metric → :func:`~alkit.viz.gmm.plot_metric_on_embedding`.

Each figure is built with ``matplotlib.figure.Figure`` (no pyplot), so nothing leaks into the
next cell's output.
"""

from __future__ import annotations

import numpy as np

from alkit.errors import AlkitError
from alkit.viz.dashboard import FigureDashboard, _ipywidgets
from alkit.viz.style import NOTEBOOK_WIDTH_IN, strategy_colors


def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


class PicksExplorer(FigureDashboard):
    """Strategy and batch size over one query context: the pool map with the picks (scores as
    colour over class halos) beside a labelled bar chart of the picks' classes.

    ``coords_N_2``: the map (one row per pool sample); ``y_N``: true pool labels (colours only);
    ``equal_aspect`` for maps whose axes are inputs.
    """

    def __init__(
        self,
        ctx,
        coords_N_2,
        strategies,
        y_N,
        class_names=None,
        value: str | None = None,
        n: int = 30,
        max_n: int = 200,
        step: int = 5,
        seed: int = 0,
        equal_aspect: bool = False,
    ):
        w = _ipywidgets()
        from alkit.viz.picks import draw_picks
        from alkit.viz.plots import plot_class_counts

        strategies = list(strategies)
        y = np.asarray(y_N)
        n_classes = max(int(y.max()) + 1, len(class_names or ()))
        names = list(class_names) if class_names is not None else list(range(n_classes))
        colors = strategy_colors(strategies)

        def draw(strategy, n):
            fig = _figure(NOTEBOOK_WIDTH_IN, 4.8)
            ax_map, ax_bar = fig.subplots(1, 2, width_ratios=[1.35, 1])
            query = draw_picks(
                ctx,
                coords_N_2,
                strategy,
                n,
                seed=seed,
                ax=ax_map,
                title=f"{strategy}: {n} picks",
                y_N=y,
                class_names=names,
                equal_aspect=equal_aspect,
            )
            ax_map.title.set_color(colors[strategy])
            counts = np.bincount(y[query.indices], minlength=n_classes)
            plot_class_counts(counts, names, ax=ax_bar, title="classes of the picks")
            for bar in ax_bar.patches:
                bar.set_color(colors[strategy])
            return fig

        controls = {
            "strategy": w.Dropdown(
                options=strategies, value=value or strategies[0], description="strategy"
            ),
            "n": w.IntSlider(
                value=n,
                min=step,
                max=max_n,
                step=step,
                description="batch size",
                continuous_update=False,
            ),
        }
        super().__init__(draw, controls)


class FisherExplorer(FigureDashboard):
    """Estimator S, descriptor length L, imbalance ratio and round over recorded snapshots
    (``snapshots[(imbalance, round)]``): re-runs one PFK selection and redraws the heat map,
    the picks' classes, the pulled-in images and the confusion matrix, with a summary table
    (rare-class share of the pick from the experiment's rare classes, pseudo-label accuracy).
    Controls offering one value (one imbalance, one round) are hidden and named."""

    def __init__(
        self,
        snapshots: dict,
        estimators=("phat", "yhat", "true"),
        lengths=(80, 20),
        imbalance=None,
        round: int | None = None,
        n_centres: int = 6,
        n_matches: int = 8,
    ):
        w = _ipywidgets()
        from alkit.viz.fisher import fisher_explorer

        if not snapshots:
            raise AlkitError("no snapshots to explore: run the loop with snapshot_recorder first")
        imbalances = sorted({i for (i, _) in snapshots})
        rounds = sorted({r for (_, r) in snapshots})
        imbalance = imbalances[-1] if imbalance is None else imbalance
        round = rounds[min(1, len(rounds) - 1)] if round is None else round

        def draw(estimator, length, imbalance, round):
            fig = _figure(NOTEBOOK_WIDTH_IN, 7.6 + 1.45 * n_centres)
            fig, summary = fisher_explorer(
                snapshots,
                estimator,
                length,
                imbalance,
                round,
                n_centres=n_centres,
                n_matches=n_matches,
                fig=fig,
            )
            # the picks' classes are the figure's labelled bar chart, not a bare list under it
            return fig, {k: v for k, v in summary.items() if k != "picked_class_counts"}

        controls = {
            "estimator": w.Dropdown(options=list(estimators), description="S"),
            "length": w.Dropdown(options=list(lengths), description="L"),
            "imbalance": w.Dropdown(options=imbalances, value=imbalance, description="imbalance"),
            "round": w.SelectionSlider(
                options=rounds, value=round, description="round", continuous_update=False
            ),
        }
        super().__init__(draw, controls)


class LikelihoodExplorer(FigureDashboard):
    """The EM-iterations slider of notebook 03's toy set: refits ψ_UL with that many EM steps
    (0 = the starting point) and redraws the three likelihood maps (points by class)."""

    def __init__(
        self,
        z_L_N_2,
        y_L,
        z_UL_M_2,
        n_classes: int,
        y_UL=None,
        class_names=None,
        em_iters: int = 3,
        max_iters: int = 20,
        resolution: int = 80,
    ):
        w = _ipywidgets()
        from alkit.viz.gmm import plot_likelihood_maps, toy_likelihood_maps

        def draw(em_iters):
            maps = toy_likelihood_maps(z_L_N_2, y_L, z_UL_M_2, n_classes, em_iters, resolution)
            fig = _figure(NOTEBOOK_WIDTH_IN, 4.3)
            plot_likelihood_maps(
                maps,
                z_L_N_2,
                z_UL_M_2,
                axes=fig.subplots(1, 3),
                y_L=y_L,
                y_UL=y_UL,
                class_names=class_names,
            )
            fig.suptitle(f"after {em_iters} EM iteration(s) for ψ_UL")
            return fig

        controls = {
            "em_iters": w.IntSlider(
                value=em_iters,
                min=0,
                max=max_iters,
                description="EM iterations",
                continuous_update=False,
                style={"description_width": "initial"},
            ),
        }
        super().__init__(draw, controls)


class MetricExplorer(FigureDashboard):
    """Cycle and metric over notebook 03's :class:`~alkit.viz.gmm.RoundMetrics` records: the
    metric coloured on the pool's embedding map (diverging and centred at 0 for I_Like). With
    a single cycle (smoke mode) the cycle slider is hidden and named."""

    def __init__(self, records, class_names=None, metric: str = "I_Total"):
        w = _ipywidgets()
        from alkit.viz.gmm import plot_metric_on_embedding

        if not records:
            raise AlkitError("no cycles recorded: run the loop with the collecting callback first")
        metrics = sorted(records[0].values)

        def draw(cycle, metric):
            fig = _figure(7.5, 6.2)
            plot_metric_on_embedding(
                records[cycle - 1], metric, ax=fig.subplots(), class_names=class_names
            )
            return fig

        controls = {
            "cycle": w.IntSlider(
                value=1, min=1, max=len(records), description="cycle", continuous_update=False
            ),
            "metric": w.Dropdown(
                options=metrics,
                value=metric if metric in metrics else metrics[0],
                description="metric",
            ),
        }
        super().__init__(draw, controls)
