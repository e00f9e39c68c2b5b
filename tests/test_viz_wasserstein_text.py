"""The widget callbacks of notebooks 08 (Wasserstein prototypes) and 09 (text saliency)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from alkit.data.text import PAD, build_vocabulary
from alkit.errors import AlkitError
from alkit.kernels.prototypes import greedy_wasserstein_prototypes
from alkit.models.textcnn import TextCNN
from alkit.saliency import tds
from alkit.viz.text import (
    TextSaliencyExplorer,
    highlight_html,
    plot_saliency_lines,
    saliency_frame,
    scaled,
)
from alkit.viz.wasserstein import (
    TOYS,
    PrototypeExplorer,
    plot_prototypes,
    plot_w_curves,
    toy_points,
    toy_prototypes,
)


@pytest.mark.parametrize("toy", TOYS)
def test_toy_prototypes_emd_follow_the_greedy_and_the_plan_is_feasible(toy):
    P = toy_points(toy, 40, seed=1)
    res = toy_prototypes(P, 4, "emd")
    picks, curve = greedy_wasserstein_prototypes(P, P, 4)
    np.testing.assert_array_equal(res.picks, picks)
    np.testing.assert_allclose(res.w_curve, curve, rtol=1e-6)
    np.testing.assert_allclose(res.plan.sum(1), 1 / 4, atol=1e-9)
    np.testing.assert_allclose(res.plan.sum(0), 1 / 40, atol=1e-9)


def test_toy_prototypes_other_solvers_and_random():
    P = toy_points("3 gaussians, unequal weights", 40)
    sk = toy_prototypes(P, 3, "sinkhorn", reg=1e-2, n_iter=50)
    assert sk.plan.shape == (3, 40) and len(set(sk.picks.tolist())) == 3
    np.testing.assert_allclose(sk.plan.sum(1), 1 / 3, atol=1e-6)  # Sinkhorn's u is updated last
    ip = toy_prototypes(P, 3, "ipot", reg=0.1, n_iter=200)
    np.testing.assert_allclose(ip.plan.sum(0), 1 / 40, atol=1e-6)  # IPOT's v is updated last
    r1, r2 = toy_prototypes(P, 5, "random", seed=0), toy_prototypes(P, 5, "random", seed=1)
    assert len(set(r1.picks.tolist())) == 5 and set(r1.picks) != set(r2.picks)
    # with 5 picks the exact greedy serves the target better than a random draw
    assert toy_prototypes(P, 5, "emd").w_curve[-1] < r1.w_curve[-1]
    with pytest.raises(AlkitError, match="toy must be one of"):
        toy_points("spiral")
    with pytest.raises(AlkitError, match="solver must be one of"):
        toy_prototypes(P, 2, "mmd")


def test_plots_and_prototype_explorer():
    import matplotlib.pyplot as plt

    res = toy_prototypes(toy_points("circle", 30), 3, "emd")
    ax = plot_prototypes(res)
    assert len(ax.lines) >= 3  # one line per plan entry drawn
    plot_w_curves({"emd": res.w_curve})
    plt.close("all")
    explorer = PrototypeExplorer(n=30, k=3)
    first = explorer.result
    assert first.solver == "sinkhorn" and len(first.picks) == 3
    explorer.solver.value = "ipot"
    assert explorer.result.solver == "ipot"
    explorer.k.value = 5
    assert len(explorer.result.picks) == 5 and len(explorer.reference.picks) == 5
    plt.close("all")


def test_highlight_html_scales_opacity_and_escapes():
    out = highlight_html(["a", "<b>", "c"], [1.0, -2.0, 0.0], signed=True)
    assert "rgba(214,39,40,0.50)" in out and "rgba(31,119,180,1.00)" in out
    assert "&lt;b&gt;" in out and "rgba(214,39,40,0.00)" in out
    with pytest.raises(AlkitError, match="3 words but 2 scores"):
        highlight_html(["a", "b", "c"], [1, 2])
    np.testing.assert_allclose(scaled([1.0, -4.0, 2.0]), [9.5, -38.0, 19.0])


def test_saliency_frame_and_explorer():
    import matplotlib.pyplot as plt

    vocab = build_vocabulary(["the cat sat on the mat", "the dog sat on the log"], min_count=1)
    torch.manual_seed(0)
    net = TextCNN((8,), 2, vocab_size=len(vocab), embedding_dim=16, n_filters=8).eval()
    tokens = vocab.encode(["the cat sat on the mat", "dog on log"], max_len=8)
    z = np.random.default_rng(0).normal(size=(2, len(vocab)))
    frame = saliency_frame(net, tokens[1], vocab, z, ("cats", "dogs"))
    assert frame.words == ["dog", "on", "log"]
    np.testing.assert_allclose(frame.tds, tds(net, tokens[1:2])[0][tokens[1] != PAD], rtol=1e-6)
    c = ("cats", "dogs").index(frame.predicted)
    np.testing.assert_allclose(frame.zscore, z[c, tokens[1][:3]])
    assert -1.0 <= frame.pearson <= 1.0
    plot_saliency_lines(frame)
    plt.close("all")
    explorer = TextSaliencyExplorer(net, tokens, vocab, z, ("cats", "dogs"), labels=[0, 1])
    assert explorer.frame.words == ["the", "cat", "sat", "on", "the", "mat"]
    explorer.sequence.value = 1
    assert explorer.frame.words == ["dog", "on", "log"] and "true: dogs" in explorer.tds_html.value
    plt.close("all")


def test_interpolation_images_and_slider():
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_digits

    from alkit.dwe_training import dwe_embed, image_histograms
    from alkit.models.dwe import DWE
    from alkit.viz.wasserstein import InterpolationSlider, interpolation_images

    torch.manual_seed(0)
    model = DWE(8, 8).eval()
    H = image_histograms(load_digits().images[:2])
    ends = [interpolation_images(model, H[0], H[1], t, 8) for t in (0.0, 1.0)]
    np.testing.assert_allclose(ends[0]["L2"].ravel(), H[0])
    np.testing.assert_allclose(ends[1]["L2"].ravel(), H[1])
    rec = model.decode(dwe_embed(model, H)).detach().numpy()
    np.testing.assert_allclose(ends[0]["DWE"].ravel(), rec[0], rtol=1e-5, atol=1e-7)
    with pytest.raises(AlkitError, match="t must lie in"):
        interpolation_images(model, H[0], H[1], 1.5, 8)
    slider = InterpolationSlider(model, H[0], H[1], 8)
    slider.t.value = 1.0
    np.testing.assert_allclose(slider.images["DWE"].ravel(), rec[1], rtol=1e-5, atol=1e-7)
    plt.close("all")
