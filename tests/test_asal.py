"""Seed 004 (ASAL): latent entropy ascent (eq. 1), PCA, the nearest-neighbour index and matching
without replacement (eq. 2), and the ``asal`` strategy (Alg. 1) on digits with a tiny GAN."""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import pytest
import torch
from conftest import cached_splits, make_context
from sklearn.decomposition import PCA as SkPCA
from strategy_template import check_strategy_contract

from alkit import metrics
from alkit.artifacts import load_trained
from alkit.errors import AlkitError
from alkit.generative import TrainedGAN
from alkit.kernels.latent import ascend_entropy
from alkit.kernels.nn_index import BACKENDS, EXACT_BACKENDS, NearestIndex
from alkit.kernels.pca import fit_pca, fit_pca_streamed, project_streamed
from alkit.models.generative import MLPGenerator
from alkit.strategies import get_strategy
from alkit.strategies.uncertainty import entropy


# -- eq. 1: latent ascent -------------------------------------------------------------------------
def linear_softmax(n_classes: int) -> torch.nn.Linear:
    h = torch.nn.Linear(2, n_classes)
    with torch.no_grad():
        h.weight.copy_(torch.tensor([[1.0, -0.5], [-0.3, 0.8], [0.4, 0.9]])[:n_classes])
        h.bias.copy_(torch.tensor([0.2, -0.1, 0.3])[:n_classes])
    return h


Z0 = np.random.default_rng(0).normal(size=(64, 2)) * 2


def test_ascent_on_identity_generator_reaches_the_binary_boundary():
    h = linear_softmax(2)
    out = ascend_entropy(torch.nn.Identity(), h, Z0, steps=300, lr=0.05)
    with torch.no_grad():
        logits = h(out.z_S_L)
    assert (logits[:, 0] - logits[:, 1]).abs().max() < 1e-2  # |wᵀz + b| at the boundary
    np.testing.assert_allclose(out.entropy_T_S[-1].numpy(), math.log(2), atol=1e-5)
    assert out.entropy_T_S.shape == (301, 64)
    means = out.entropy_T_S.mean(dim=1)
    assert means[-1] > means[0] and means[50] > means[0]
    # the minimum-distance objective of the binary linear runs reaches the same hyperplane
    margin = ascend_entropy(torch.nn.Identity(), h, Z0, steps=500, lr=0.02, objective="margin")
    with torch.no_grad():
        assert (h(margin.z_S_L)[:, 0] - h(margin.z_S_L)[:, 1]).abs().max() < 0.05


def test_ascent_with_three_classes_reaches_log3():
    out = ascend_entropy(torch.nn.Identity(), linear_softmax(3), Z0, steps=300, lr=0.05)
    np.testing.assert_allclose(out.entropy_T_S[-1].numpy(), math.log(3), atol=1e-4)


def test_batched_ascent_equals_a_per_latent_loop():
    """The sum objective makes every latent's trajectory independent of the batch."""
    torch.manual_seed(0)
    gen = MLPGenerator((1, 8, 8), latent_dim=16, hidden=(32,))
    clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 20), torch.nn.Tanh(),
                              torch.nn.Dropout(0.5), torch.nn.Linear(20, 4))  # fmt: skip
    clf.train()  # ascent must switch dropout off, and restore the mode afterwards
    z0 = np.random.default_rng(1).normal(size=(6, 16)).astype(np.float32)
    batched = ascend_entropy(gen, clf, z0, steps=30, lr=0.05)
    assert clf.training and gen.training and all(p.grad is None for p in clf.parameters())
    single = [ascend_entropy(gen, clf, z0[i : i + 1], steps=30, lr=0.05) for i in range(6)]
    torch.testing.assert_close(
        batched.z_S_L, torch.cat([s.z_S_L for s in single]), rtol=1e-5, atol=1e-5
    )
    chunked = ascend_entropy(gen, clf, z0, steps=30, lr=0.05, batch_size=4, record_path=True)
    torch.testing.assert_close(batched.z_S_L, chunked.z_S_L, rtol=1e-5, atol=1e-5)
    assert chunked.path_T_S_L.shape == (31, 6, 16)
    sphere = ascend_entropy(gen, clf, z0, steps=5, z_project="sphere")
    torch.testing.assert_close(sphere.z_S_L.norm(dim=1), torch.full((6,), 4.0))
    with pytest.raises(AlkitError, match="objective"):
        ascend_entropy(gen, clf, z0, objective="hinge")


# -- PCA ------------------------------------------------------------------------------------------
def digits_features() -> np.ndarray:
    X = cached_splits("digits", None, None).X_pool
    return X.reshape(len(X), -1)


def test_pca_matches_scikit_learn_up_to_sign_and_streamed_equals_in_memory():
    F = digits_features()
    ours = fit_pca(F, 20)
    ref = SkPCA(20, svd_solver="full").fit(F)
    signs = np.sign((ours.components_K_D.numpy() * ref.components_).sum(1))
    np.testing.assert_allclose(
        ours.components_K_D.numpy() * signs[:, None], ref.components_, atol=1e-4
    )
    np.testing.assert_allclose(ours.explained_variance_K.numpy(), ref.explained_variance_,
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(ours.transform(F).numpy() * signs, ref.transform(F), atol=1e-4)
    Ft = torch.as_tensor(F)
    streamed = fit_pca_streamed(lambda s, e: Ft[s:e], len(F), 20, block_rows=37)
    np.testing.assert_allclose(streamed.components_K_D, ours.components_K_D, atol=1e-4)
    np.testing.assert_allclose(streamed.mean_D, ours.mean_D, atol=1e-6)
    np.testing.assert_allclose(streamed.explained_variance_K, ours.explained_variance_K,
                               rtol=1e-6)  # fmt: skip
    S = project_streamed(lambda s, e: Ft[s:e], len(F), streamed, block_rows=50)
    np.testing.assert_allclose(S, ours.transform(F), atol=1e-4)
    with pytest.raises(AlkitError, match="k=65"):
        fit_pca(F, 65)


# -- eq. 2: index and matching --------------------------------------------------------------------
@functools.cache
def pool_store():
    """Real 50-d PCA features of the digits pool and perturbed pool rows as queries."""
    F = digits_features()
    S = fit_pca(F, 50).transform(F).numpy()
    rng = np.random.default_rng(0)
    rows = rng.choice(len(S), 60, replace=False)
    Q = S[rows] + rng.normal(scale=0.3, size=(60, 50)).astype(np.float32)
    return S, Q


def reference_knn(S, Q, k):
    d = np.sqrt(((Q[:, None, :].astype(np.float64) - S[None].astype(np.float64)) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, 1), idx


def backend_available(backend: str) -> bool:
    if backend == "pynndescent":  # numba compiles for about a minute on first use
        return os.environ.get("ALKIT_TEST_PYNNDESCENT") == "1"
    if backend == "faiss":
        try:
            import faiss  # noqa: F401
        except ImportError:
            return False
    return True


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_index_backend_agrees_with_brute_force(backend):
    if not backend_available(backend):
        pytest.skip(f"{backend} not installed (or pynndescent without ALKIT_TEST_PYNNDESCENT=1)")
    S, Q = pool_store()
    ref_d, ref_i = reference_knn(S, Q, 5)
    d, i = NearestIndex(S, backend).query(Q, 5)
    if backend in EXACT_BACKENDS:
        np.testing.assert_array_equal(i, ref_i)
        np.testing.assert_allclose(d, ref_d, rtol=1e-9)
    else:
        assert (i[:, 0] == ref_i[:, 0]).mean() >= 0.95  # recall@1
        hit = i == ref_i
        np.testing.assert_allclose(d[hit], ref_d[hit], rtol=1e-9)


def greedy_reference(S, Q, exclude, order, per_query):
    full = np.sqrt(((Q[:, None, :].astype(np.float64) - S[None]) ** 2).sum(-1))
    taken = exclude.copy()
    out = np.zeros((len(Q), per_query), np.int64)
    for q in order:
        ranked = np.argsort(full[q], kind="stable")
        out[q] = ranked[~taken[ranked]][:per_query]
        taken[out[q]] = True
    return out


@pytest.mark.parametrize("backend", EXACT_BACKENDS)
def test_matching_is_greedy_without_replacement_and_never_labelled(backend):
    S, Q = pool_store()
    rng = np.random.default_rng(3)
    exclude = np.zeros(len(S), bool)
    exclude[rng.choice(len(S), 300, replace=False)] = True
    # half the queries are one repeated point: their matches must collide and be resolved
    Qc = np.concatenate([Q[:30], np.repeat(Q[30:31], 30, axis=0)])
    order = rng.permutation(len(Qc))
    index = NearestIndex(S, backend)
    for per in (1, 3):
        m = index.match(Qc, exclude_N=exclude, order=order, per_query=per, k0=2)
        flat = m.indices_Q_p.ravel()
        assert len(np.unique(flat)) == len(flat) and not exclude[flat].any()
        np.testing.assert_array_equal(m.indices_Q_p, greedy_reference(S, Qc, exclude, order, per))
        assert m.n_requeries > 0 and (m.ranks_Q_p > 0).any()
    # identical queries get the nearest distinct unlabelled rows, in serving order
    same = index.match(np.repeat(Q[:1], 12, axis=0), exclude_N=exclude)
    ranked = np.argsort(np.sqrt(((S.astype(np.float64) - Q[0]) ** 2).sum(1)), kind="stable")
    np.testing.assert_array_equal(same.indices_Q_p[:, 0], ranked[~exclude[ranked]][:12])
    with pytest.raises(AlkitError, match="free rows"):
        index.match(Q, exclude_N=np.ones(len(S), bool))


def test_approximate_matching_falls_back_to_an_exact_scan_and_stays_valid():
    if not backend_available("faiss"):
        pytest.skip("faiss-cpu not installed")
    S, Q = pool_store()
    exclude = np.ones(len(S), bool)
    exclude[np.random.default_rng(4).choice(len(S), 80, replace=False)] = False  # 80 free rows
    index = NearestIndex(S, "faiss", approx_max_k=8)
    m = index.match(Q[:40], exclude_N=exclude, per_query=2, k0=1)
    flat = m.indices_Q_p.ravel()
    assert len(np.unique(flat)) == 80 and not exclude[flat].any()  # every free row, once
    d = np.linalg.norm(S[m.indices_Q_p].astype(np.float64) - Q[:40, None], axis=2)
    np.testing.assert_allclose(m.distances_Q_p, d, rtol=1e-9)
    assert (m.ranks_Q_p == len(S)).any()  # some matches came from the exact scan


# -- the strategy ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"features": "disc"},
        {"features": "auto", "index": "brute"},
        {"features": "cls"},
        {"oversample": 3},
        {"neighbors": 3, "latent_batch": 4},
    ],
    ids=["disc", "auto-brute", "cls", "oversample", "neighbors"],
)
def test_asal_variants_pass_the_contract(options):
    make_ctx = functools.partial(make_context, artifacts=True)
    check_strategy_contract("asal", make_ctx, n=10, options={"steps": 15, **options})


def test_asal_info_picks_and_store_reuse():
    ctx = make_context(seed=0, artifacts=True)
    strategy = get_strategy("asal", steps=15)
    q = strategy.query(ctx, 10)
    info = q.info
    assert info["synthetic"].shape == (10, 1, 8, 8) and info["latents"].shape == (10, 128)
    assert info["entropy_trace"].shape == (16, 10)
    np.testing.assert_array_equal(np.sort(q.indices), np.sort(info["matched"].ravel()))
    probs = ctx.learner.predict_proba(ctx.pool.X[info["matched"].ravel()])
    np.testing.assert_allclose(info["entropy_matched"].ravel(), entropy(probs), atol=1e-6)
    # picks served in descending synthetic entropy; scores = −distance, NaN elsewhere
    order = np.argsort(-info["entropy_synthetic"], kind="stable")
    np.testing.assert_array_equal(q.indices, info["matched"][order, 0])
    scored = np.isfinite(q.scores)
    assert scored.sum() == 10
    pos = np.searchsorted(q.candidates, info["matched"][:, 0])
    np.testing.assert_allclose(q.scores[pos], -info["match_distance"][:, 0])
    assert info["store_built"] and {"features_pool", "pca_fit", "index_build"} <= set(
        info["timing"]
    )
    assert info["pick_entropy"] == pytest.approx(entropy(ctx.predict_proba(q.indices)).mean())
    again = strategy.query(make_context(seed=1, artifacts=True), 10)
    assert not again.info["store_built"] and "index_build" not in again.info["timing"]
    cls = get_strategy("asal", features="cls", steps=5)
    cls.query(make_context(seed=0, artifacts=True), 5)
    assert cls.query(make_context(seed=0, artifacts=True), 5).info["store_built"]


def test_asal_reranking_variants_keep_the_most_uncertain_matches():
    ctx = make_context(seed=0, artifacts=True)
    for opts in ({"oversample": 4}, {"neighbors": 4}):
        q = get_strategy("asal", steps=10, **opts).query(ctx, 6)
        ent = q.info["entropy_matched"].ravel()
        assert len(ent) == 24
        picked = np.isin(q.info["matched"].ravel(), q.indices)
        assert picked.sum() == 6 and ent[picked].min() >= ent[~picked].max()


class PoolImageGenerator(torch.nn.Module):
    """A 'generator' that outputs one fixed pool image for every latent."""

    latent_dim = 8

    def __init__(self, image):
        super().__init__()
        self.image = torch.nn.Parameter(torch.as_tensor(image)[None], requires_grad=False)

    def forward(self, z):
        return self.image.expand(len(z), *self.image.shape[1:]) + 0.0 * z.sum()


@pytest.mark.parametrize("features", ["gray", "disc", "auto"])
def test_a_synthetic_copy_of_a_pool_image_matches_it_at_distance_zero(features):
    ctx = make_context(seed=0, artifacts=True)
    X = ctx.pool.X
    flat = X.reshape(len(X), -1)
    _, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    unique = np.flatnonzero(counts[inverse.ravel()] == 1)  # images without an exact duplicate
    target = int(np.setdiff1d(unique, ctx.labeled_idx)[0])
    gan = load_trained(ctx.artifacts["wgan_gp"])  # a strategy may also be handed the objects
    ctx.artifacts["wgan_gp"] = TrainedGAN(PoolImageGenerator(X[target]), gan.critic)
    q = get_strategy("asal", features=features, steps=3).query(ctx, 4)
    assert q.indices[0] == target
    assert q.info["match_distance"][0, 0] == pytest.approx(0.0, abs=1e-4)
    assert (q.info["match_distance"][1:, 0] > 1e-3).all()  # the copies take the next ones


def test_asal_errors_before_any_work():
    strategy = get_strategy("asal")
    with pytest.raises(AlkitError, match=r"needs the artifact\(s\) \['wgan_gp'\]"):
        strategy.query(make_context(seed=0), 5)
    assert strategy._store is None
    ctx = make_context(seed=0, artifacts=True)
    del ctx.artifacts["autoencoder"]
    with pytest.raises(AlkitError, match="autoencoder"):
        get_strategy("asal:features=auto").query(ctx, 5)
    assert get_strategy("asal:features=auto").requirements() == {
        "learner",
        "artifact:wgan_gp",
        "artifact:autoencoder",
    }
    for spec, word in [
        ("asal:features=pixels", "features"),
        ("asal:steps=0", "steps"),
        ("asal:lr=-1", "lr"),
        ("asal:index=annoy", "index"),
        ("asal:neighbors=1.5", "neighbors"),
        ("asal:objective=hinge", "objective"),
        ("asal:z_project=ball", "z_project"),
        ("asal:pca_fit_rows=1", "pca_fit_rows"),
    ]:
        with pytest.raises(AlkitError, match=word):
            get_strategy(spec)


def test_asal_picks_are_more_uncertain_than_random_and_the_diagnostic_agrees():
    """Fig. 3b: the matched samples' entropy under the model that chose them exceeds the pool
    mean (what random sampling picks in expectation) in the pixel and classifier spaces."""
    ctx = make_context(seed=0, artifacts=True)
    pool_mean = metrics.pick_entropy(ctx.predict_proba(ctx.unlabeled_idx))
    for features in ("gray", "cls"):
        values = []
        for seed in range(3):
            c = make_context(seed=seed, artifacts=True)
            q = get_strategy("asal", features=features, steps=30).query(c, 10)
            assert q.info["pick_entropy"] == pytest.approx(
                metrics.pick_entropy(c.predict_proba(q.indices))
            )
            values.append(q.info["pick_entropy"])
        assert np.mean(values) > 1.1 * pool_mean, (features, values, pool_mean)
    assert np.isnan(metrics.pick_entropy(np.zeros((0, 3))))
    np.testing.assert_allclose(metrics.pick_entropy([[0.5, 0.5], [1.0, 0.0]]), math.log(2) / 2)
