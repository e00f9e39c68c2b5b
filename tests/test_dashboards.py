"""alkit.viz dashboards: explicit observe callbacks, the first figure drawn directly, no output
capture (the cause of headless hangs), controls with one choice hidden and named."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from conftest import cached_splits, make_context  # noqa: E402

from alkit.data import load_dataset  # noqa: E402
from alkit.errors import check_positive_int  # noqa: E402
from alkit.strategies import Query  # noqa: E402
from alkit.viz import (  # noqa: E402
    FigureDashboard,
    LikelihoodExplorer,
    MetricExplorer,
    PicksExplorer,
    plot_confusion,
)
from alkit.viz.gmm import round_metrics, toy_likelihood_maps  # noqa: E402
from alkit.viz.picks import run_strategy  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def assert_shows_png(dash) -> None:
    (out,) = dash.output.outputs
    assert out["output_type"] == "display_data" and out["data"]["image/png"]
    assert dash.output.msg_id == ""  # assigned, never captured: nbclient has nothing to echo


def _toy():
    ds = load_dataset("blobs")
    X, y = ds.X_train.astype(np.float32), ds.y_train
    lab = np.flatnonzero(y != 3)[:24]
    rest = np.setdiff1d(np.arange(len(y)), lab)
    return X, y, lab, rest


def test_likelihood_explorer_redraws_the_maps_of_the_slider_value():
    X, y, lab, rest = _toy()
    dash = LikelihoodExplorer(X[lab], y[lab], X[rest], 4, y_UL=y[rest], em_iters=3, resolution=30)
    assert_shows_png(dash)
    first_png = dash.png
    bundle = dash._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle["image/png"]  # live widget + static first figure
    dash.controls["em_iters"].value = 0
    assert_shows_png(dash)
    assert dash.png != first_png
    expected = toy_likelihood_maps(X[lab], y[lab], X[rest], 4, 0, 30).grids["I_Like"]
    i_like = dash.figure.axes[2].images[0].get_array()
    np.testing.assert_allclose(i_like, expected, rtol=1e-5, atol=1e-6)
    assert "0 EM iteration" in dash.figure.get_suptitle()


def _records(n_cycles: int):
    rng = np.random.default_rng(0)
    n, records = 200, []
    for cycle in range(1, n_cycles + 1):
        info = {"I_Like": rng.normal(size=n - 20), "I_Ent": rng.random(n - 20)}
        q = Query(np.array([30 + cycle, 60]), np.arange(20, n), np.zeros(n - 20), info)
        labeled = np.zeros(n, bool)
        labeled[:20] = True
        records.append(
            round_metrics(q, n, labeled, rng.normal(size=(n, 2)), np.arange(n) % 5, cycle)
        )
    return records


def test_metric_explorer_hides_a_slider_with_one_value_and_names_it():
    dash = MetricExplorer(_records(1))
    cycle = dash.controls["cycle"]
    assert cycle.layout.display == "none"
    assert "cycle = <b>1</b>" in dash.note.value and "only one value" in dash.note.value
    assert dash.controls["metric"].layout.display != "none"
    dash.controls["metric"].value = "I_Like"
    assert "I_Like" in dash.figure.axes[0].get_title()
    scores = next(c for c in dash.figure.axes[0].collections if c.get_array() is not None)
    assert scores.norm.vmin == -scores.norm.vmax  # signed: centred at 0

    two = MetricExplorer(_records(2))
    assert two.controls["cycle"].layout.display != "none" and two.note.value == ""
    two.controls["cycle"].value = 2
    picked = next(c for c in two.figure.axes[0].collections if c.get_label() == "picked")
    np.testing.assert_allclose(picked.get_offsets(), _records(2)[1].coords_N_2[[32, 60]])


def test_picks_explorer_draws_the_strategy_batch_and_its_classes():
    ctx = make_context()
    y = cached_splits("digits").y_pool
    coords = ctx.pool.X.reshape(len(ctx.pool), -1)[:, :2]
    dash = PicksExplorer(ctx, coords, ["random", "margin"], y, value="margin", n=10)
    assert_shows_png(dash)
    dash.controls["n"].value = 15
    query = run_strategy(ctx, "margin", 15, seed=0)
    ax_map, ax_bar = (a for a in dash.figure.axes if a.get_label() != "<colorbar>")
    picked = next(c for c in ax_map.collections if c.get_label() == "picked")
    np.testing.assert_allclose(picked.get_offsets(), coords[query.indices])
    heights = [p.get_height() for p in ax_bar.patches]
    np.testing.assert_array_equal(heights, np.bincount(y[query.indices], minlength=10))


def test_an_error_in_a_callback_is_shown_not_lost():
    import ipywidgets as w
    from matplotlib.figure import Figure

    def draw(n):
        check_positive_int("n", n)
        fig = Figure()
        plot_confusion(np.eye(n), ax=fig.subplots())
        return fig, {"classes": n}

    dash = FigureDashboard(draw, {"n": w.IntSlider(value=2, min=0, max=4)})
    assert "classes" in dash.caption.value and "<b>2</b>" in dash.caption.value
    dash.controls["n"].value = 0
    (out,) = dash.output.outputs
    assert out["name"] == "stderr" and "n must be a positive integer" in out["text"]
    dash.controls["n"].value = 3
    assert_shows_png(dash)
    assert dash.figure.axes[0].images[0].get_array().shape == (3, 3)
