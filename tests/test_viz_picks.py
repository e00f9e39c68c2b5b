"""The baselines notebook's callbacks: picks drawn on a 2-D map, reproducible per seed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from conftest import make_context  # noqa: E402

from alkit.viz import compare_picks, draw_picks, picked_class_counts, pool_scores  # noqa: E402
from alkit.viz.embedding import project_2d  # noqa: E402


def test_draw_picks_marks_the_batch_and_is_reproducible():
    ctx = make_context()
    coords = project_2d(ctx.embed(np.arange(len(ctx.pool))), method="pca")
    q1 = draw_picks(ctx, coords, "badge", 7, seed=3)
    q2 = draw_picks(ctx, coords, "badge", 7, seed=3)
    np.testing.assert_array_equal(q1.indices, q2.indices)
    assert not ctx.pool.labeled_mask[q1.indices].any()  # drawing never labels
    q3 = draw_picks(ctx, coords, "badge", 7, seed=4)
    assert not np.array_equal(q1.indices, q3.indices)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    q = draw_picks(ctx, coords, "coreset", 5, ax=ax)
    crosses = [c for c in ax.collections if c.get_offsets().shape[0] == 5]
    np.testing.assert_allclose(crosses[0].get_offsets(), coords[q.indices])
    plt.close("all")


def test_pool_scores_and_class_counts():
    ctx = make_context()
    fig, queries = compare_picks(
        ctx, ctx.pool.X.reshape(len(ctx.pool), -1)[:, :2], ["random", "entropy", "kmeans"], 6
    )
    assert set(queries) == {"random", "entropy", "kmeans"}
    assert sum(ax.get_visible() for ax in fig.axes if ax.get_label() != "<colorbar>") >= 3
    s = pool_scores(queries["entropy"], len(ctx.pool))
    assert np.isnan(s[ctx.labeled_idx]).all() and np.isfinite(s[ctx.unlabeled_idx]).all()
    y = np.arange(len(ctx.pool)) % 10
    counts = picked_class_counts(queries, y, 10)
    assert counts.shape == (3, 10) and (counts.sum(axis=1) == 6).all()
    np.testing.assert_array_equal(
        counts.loc["random"].to_numpy(), np.bincount(y[queries["random"].indices], minlength=10)
    )
