"""alkit.kernels against brute force, NumPy, scikit-learn; chunked == unchunked; OOM halving."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from alkit.errors import AlkitError
from alkit.kernels import (
    badge_embedding,
    badge_pairwise_sqdist,
    badge_q,
    badge_seeding,
    kcenter_greedy,
    kmeans,
    kmeans_pp_seeding,
    knn,
    map_row_blocks,
    min_sqdist,
    nearest_to_centres,
    pairwise_cosine,
    pairwise_sqeuclidean,
)


def brute_kcenter(X, labeled, n):
    """Textbook greedy k-center on the full distance matrix (float64)."""
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    centres = list(labeled)
    if not centres:
        centres = [int(np.argmax(((X - X.mean(0)) ** 2).sum(1)))]
        picks = list(centres)
    else:
        picks = []
    while len(picks) < n:
        d = D[:, centres].min(1)
        d[centres] = -1
        c = int(np.argmax(d))
        centres.append(c)
        picks.append(c)
    return np.array(picks)


def covering_radius(X, centres):
    D = np.sqrt(((X[:, None, :] - X[None, centres, :]) ** 2).sum(-1))
    return D.min(1).max()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_labeled", [0, 1, 7])
def test_kcenter_equals_brute_force(seed, n_labeled):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 6))
    labeled = rng.choice(120, n_labeled, replace=False)
    want = brute_kcenter(X, list(labeled), 15)
    got = kcenter_greedy(X.astype(np.float32), labeled, 15, backend="torch")
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", range(6))
def test_kcenter_within_twice_the_optimal_covering_radius(seed):
    rng = np.random.default_rng(100 + seed)
    X = rng.normal(size=(13, 2))
    k = 3
    optimum = min(covering_radius(X, list(c)) for c in itertools.combinations(range(13), k))
    # greedy from an arbitrary first centre is a 2-approximation (Gonzalez 1985)
    first = [int(rng.integers(13))]
    picks = kcenter_greedy(X.astype(np.float32), first, k - 1, backend="torch")
    greedy = covering_radius(X, first + list(picks))
    assert greedy <= 2 * optimum + 1e-6
    assert greedy >= optimum - 1e-6


def test_kcenter_chunked_equals_unchunked_and_returns_distances():
    X = torch.randn(300, 5, generator=torch.Generator().manual_seed(0))
    lab = np.arange(0, 300, 37)
    a, ra, ia = kcenter_greedy(X, lab, 20, block_rows=None, return_distances=True)
    b, rb, ib = kcenter_greedy(X, lab, 20, block_rows=3, return_distances=True)
    np.testing.assert_array_equal(a, b)
    # ‖a‖² + ‖b‖² − 2a·b is not exactly 0 in float32 for a labelled row (its own centre): the
    # blocked and unblocked GEMMs round differently, so compare with an absolute tolerance too
    np.testing.assert_allclose(ra, rb, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ia, ib, rtol=1e-5, atol=1e-5)
    assert np.all(ia[lab] <= 1e-5) and np.all(ia[lab] >= 0.0)
    # radii are non-increasing: each pick is the farthest point left
    assert np.all(np.diff(ra) <= 1e-5)
    want = ((X.numpy()[:, None] - X.numpy()[lab][None]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(ia, want, rtol=1e-4, atol=1e-4)


def test_kcenter_duplicates_and_bad_input():
    X = np.zeros((10, 3), np.float32)
    picks = kcenter_greedy(X, [0, 1], 8)
    assert sorted(picks) == list(range(2, 10))
    with pytest.raises(AlkitError, match="larger than the 8 unlabelled"):
        kcenter_greedy(X, [0, 1], 9)
    with pytest.raises(AlkitError, match="NaN"):
        kcenter_greedy(np.full((4, 2), np.nan), [], 1)
    with pytest.raises(AlkitError, match="backend"):
        kcenter_greedy(X, [], 1, backend="cuda")


def test_pairwise_distances_chunked_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(57, 9)), rng.normal(size=(23, 9))
    want = ((a[:, None] - b[None]) ** 2).sum(-1)
    for rows in (None, 1, 4):
        got = pairwise_sqeuclidean(a, b, block_rows=rows).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    cos = 1 - (a @ b.T) / np.linalg.norm(a, axis=1)[:, None] / np.linalg.norm(b, axis=1)[None]
    for rows in (None, 2):
        np.testing.assert_allclose(pairwise_cosine(a, b, block_rows=rows).numpy(), cos, atol=1e-5)
    d, i = min_sqdist(a, b, block_rows=5)
    np.testing.assert_allclose(d.numpy(), want.min(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(i.numpy(), want.argmin(1))


def test_block_size_halves_on_out_of_memory():
    seen = []

    def fn(start, stop):
        seen.append(stop - start)
        if stop - start > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 10 GiB")
        return torch.arange(start, stop)

    out = torch.cat(map_row_blocks(fn, 20, 16))
    np.testing.assert_array_equal(out.numpy(), np.arange(20))
    assert seen[:3] == [16, 8, 4] and set(seen[3:]) <= {3, 2}
    with pytest.raises(ValueError, match="other"):
        map_row_blocks(lambda s, e: (_ for _ in ()).throw(ValueError("other")), 4, 2)

    def always_oom(start, stop):
        raise MemoryError

    with pytest.raises(MemoryError):
        map_row_blocks(always_oom, 4, 4)


def test_block_budget_from_environment(monkeypatch):
    from alkit.kernels import default_block_rows

    monkeypatch.setenv("ALKIT_BLOCK_BYTES", str(8 * 1000))
    assert default_block_rows(100) == 10
    monkeypatch.setenv("ALKIT_BLOCK_BYTES", "lots")
    with pytest.raises(AlkitError, match="ALKIT_BLOCK_BYTES"):
        default_block_rows(100)


@pytest.mark.parametrize("block", [(None, None), (3, None), (4, 7), (1, 1)])
def test_knn_matches_sklearn(block):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(1)
    ref, qry = rng.normal(size=(80, 4)), rng.normal(size=(31, 4))
    nn = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(ref)
    want_d, want_i = nn.kneighbors(qry)
    d, i = knn(qry, ref, k=5, block_rows=block[0], block_cols=block[1])
    np.testing.assert_array_equal(i.numpy(), want_i)
    np.testing.assert_allclose(np.sqrt(d.numpy()), want_d, rtol=1e-4, atol=1e-4)
    # self-neighbours excluded, as sklearn does when kneighbors() gets no query
    want_d, want_i = nn.kneighbors()
    d, i = knn(ref, None, k=5, block_rows=block[0], block_cols=block[1])
    np.testing.assert_array_equal(i.numpy(), want_i)
    np.testing.assert_allclose(np.sqrt(d.numpy()), want_d, rtol=1e-4, atol=1e-4)


def test_badge_factorised_equals_materialised():
    rng = np.random.default_rng(2)
    h = np.abs(rng.normal(size=(40, 16))).astype(np.float32)
    p = rng.dirichlet(np.ones(7), size=40).astype(np.float32)
    q = badge_q(p)
    assert torch.all(q.sum(1).abs() < 1e-5)  # p − e_ŷ sums to 0
    assert torch.all(q.argmin(1) == torch.as_tensor(p).argmax(1))
    g = badge_embedding(h, q).double().numpy()
    assert g.shape == (40, 7 * 16)
    want = ((g[:, None] - g[None]) ** 2).sum(-1)
    for rows in (None, 3):
        got = badge_pairwise_sqdist(h, q, h, q, block_rows=rows).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_badge_seeding_matches_kmeans_pp_on_materialised_embedding():
    rng = np.random.default_rng(3)
    h = np.abs(rng.normal(size=(60, 8))).astype(np.float32)
    q = badge_q(rng.dirichlet(np.ones(5), size=60).astype(np.float32))
    g = badge_embedding(h, q)
    first = int(torch.argmax((g * g).sum(1)))
    for seed in range(3):
        want = kmeans_pp_seeding(g, 12, np.random.default_rng(seed), first=first)
        got = badge_seeding(h, q, 12, np.random.default_rng(seed))
        np.testing.assert_array_equal(got, want)


def test_kmeans_pp_draws_the_d2_distribution():
    # points on a line; with the first centre at 0 the second is drawn ∝ x²
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]], np.float32)
    weights = x[:, 0].astype(np.float64) ** 2
    rng = np.random.default_rng(4)
    draws = np.array([kmeans_pp_seeding(x, 2, rng, first=0)[1] for _ in range(1500)])
    counts = np.bincount(draws, minlength=5)
    assert counts[0] == 0
    expected = weights[1:] / weights.sum() * len(draws)
    assert stats.chisquare(counts[1:], expected).pvalue > 1e-3
    # a third centre is drawn ∝ the distance to the nearer of the two centres
    draws = np.array([kmeans_pp_seeding(x, 3, rng, first=0)[1:] for _ in range(300)])
    assert len(np.unique(draws, axis=0)) > 1
    assert all(len(set(d)) == 2 and 0 not in d for d in draws)


def test_kmeans_pp_distinct_even_with_duplicates():
    x = np.zeros((6, 2), np.float32)
    picks = kmeans_pp_seeding(x, 6, np.random.default_rng(0))
    assert sorted(picks) == list(range(6))


def test_kmeans_and_nearest_to_centres():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(300, centers=4, cluster_std=0.3, random_state=0)
    centres, labels = kmeans(X, 4, seed=0)
    assert centres.shape == (4, 2)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, labels) > 0.95
    picks = nearest_to_centres(X, centres, block_rows=7)
    want = np.argmin(((X[:, None] - centres[None]) ** 2).sum(-1), axis=0)
    np.testing.assert_array_equal(picks, want)
    # two identical centres still get distinct rows
    picks = nearest_to_centres(X, np.repeat(centres[:1], 3, axis=0))
    assert len(set(picks)) == 3


TRITON_CHECK = """
import numpy as np, torch
from alkit.kernels import kcenter_greedy
from alkit.kernels.triton_kcenter import triton_usable
assert triton_usable()
for seed, (N, D, L) in enumerate([(300, 7, 5), (517, 130, 0), (64, 3, 1)]):
    X = torch.randn(N, D, generator=torch.Generator().manual_seed(seed))
    lab = np.arange(L) * 3
    a, ra, _ = kcenter_greedy(X, lab, 12, backend="torch", return_distances=True)
    b, rb, _ = kcenter_greedy(X, lab, 12, backend="triton", return_distances=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ra, rb, rtol=1e-4, atol=1e-5)
print("ok")
"""


def test_triton_kcenter_matches_torch_under_interpreter():
    pytest.importorskip("triton")
    root = Path(__file__).parent.parent
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(root))
    res = subprocess.run(
        [sys.executable, "-c", TRITON_CHECK], env=env, capture_output=True, text=True, cwd=root
    )
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]


def test_lazy_kcenter_blocks_agree_with_a_full_pass_per_step():
    from alkit.kernels.kcenter import TAKEN, _kcenter_steps_torch
    from alkit.kernels.triton_kcenter import triton_usable  # noqa: F401  (import check only)

    X = torch.randn(500, 6, generator=torch.Generator().manual_seed(5))
    lab = torch.arange(0, 500, 50)
    min_d = min_sqdist(X, X[lab])[0]
    min_d[lab] = TAKEN
    want = None
    for block in (1, 3, 64, 1024):
        picks, radii = _kcenter_steps_torch(X, min_d.clone(), 40, None, block=block)
        if want is None:
            want = picks.numpy()
            # reference: a full distance pass per step
            d = min_d.clone()
            for c in want:
                assert torch.argmax(d) == c
                d = torch.minimum(d, ((X - X[c]) ** 2).sum(1))
                d[c] = TAKEN
        np.testing.assert_array_equal(picks.numpy(), want)


def test_lazy_d2_sampler_with_tiny_blocks_draws_d2():
    from alkit.kernels import d2_seeding

    x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [0.5]])

    def block_dist(s, e, centres):
        return (x[s:e] - x[centres].T) ** 2

    rng = np.random.default_rng(7)
    # third centre after 0 and 4 (first two fixed by rejecting other draws): weights min(x, 4−x)²
    draws = []
    while len(draws) < 400:
        c = d2_seeding(6, 3, block_dist, rng, first=0, block=2)
        if c[1] == 4:
            draws.append(c[2])
    weights = np.array([0, 1, 4, 1, 0, 0.25])
    counts = np.bincount(draws, minlength=6)
    assert counts[0] == counts[4] == 0
    keep = weights > 0
    expected = weights[keep] / weights.sum() * len(draws)
    assert stats.chisquare(counts[keep], expected).pvalue > 1e-3


def test_benchmark_naive_kcenter_is_the_same_algorithm():
    import importlib.util

    path = Path(__file__).parent.parent / "benchmarks" / "select_speed.py"
    spec = importlib.util.spec_from_file_location("select_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    X = torch.randn(400, 8, generator=torch.Generator().manual_seed(9))
    lab = np.arange(0, 400, 40)
    np.testing.assert_array_equal(
        bench.naive_kcenter(X, torch.as_tensor(lab), 25), kcenter_greedy(X, lab, 25)
    )
