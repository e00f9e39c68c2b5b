"""Seed 004 (Mayer & Timofte, WACV 2020, ASAL): adversarial sampling, binary and ten classes.

Fig. 3a/3b (MNIST 5 vs 7, a linear classifier, 50 initial + 10 per cycle to 500, 5 seeds):
ASAL reaches 98.5% with 200 labels where random needs 500, in all three feature spaces (gray
pixels, auto-encoder codes, the critic's features), and the samples it matches are 63% more
uncertain than random picks. The analogue here is Fashion-MNIST sandal vs sneaker (classes 5
and 7, the spec's mirror of digits 5 and 7), with the generative models as cached artifacts
trained on each seed's unlabelled pool.

Both binary rows average the three feature spaces rather than pick the best one afterwards,
because the paper claims them "alike"; each space's own number is in the details. Fig. 3c (MNIST
ten classes, a CNN) has no number: ASAL beats random there, the critic's features best; its row
here is the AUC gain of ``asal:features=disc`` over random on Fashion-MNIST ten, with a LeNet.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from alkit import metrics
from alkit.claims.base import Claim, Curves, register_claim
from alkit.claims.measured import MeasuredClaim, Reading
from alkit.loop import ExperimentConfig
from alkit.train import TrainConfig

SPACES = ("gray", "auto", "disc")
ASAL = tuple(f"asal:features={s}" for s in SPACES)
STRATEGIES = ("random", "entropy", *ASAL)
#: the CPU stand-in for the paper's DCGAN-style WGAN-GP (spec §5: DIM 32, 10–20k iterations)
GAN = {"arch": "mlp", "iterations": 4000}
QUICK_GAN = {"arch": "mlp", "iterations": 200, "width": 16, "lr": 1e-3}
QUICK_AE = {"epochs": 5}


def _config(quick: bool) -> ExperimentConfig:
    if quick:  # digits, ten classes, a tiny GAN: the pipeline, not the claim
        return ExperimentConfig(
            dataset="digits", pool_size=600, test_size=300, model="mlp",
            model_options={"hidden": []}, initial=20, query=10, rounds=3, seeds=(0, 1),
            strategies=STRATEGIES, artifact_options={"wgan_gp": QUICK_GAN,
                                                     "autoencoder": QUICK_AE},
            device="cpu", train=TrainConfig(lr=1e-2, epochs=30, min_steps=150),
        )  # fmt: skip
    return ExperimentConfig(
        dataset="fashion_mnist_5v7", model="mlp", model_options={"hidden": []}, initial=50,
        query=10, rounds=45, seeds=(0, 1, 2, 3, 4), strategies=STRATEGIES,
        artifact_options={"wgan_gp": GAN}, device="auto", train=TrainConfig(),
    )  # fmt: skip


def _experiments(quick: bool) -> dict[str, ExperimentConfig]:
    return {"run": _config(quick)}


TEN = ("random", "entropy", "coreset", "asal:features=disc", "asal:features=gray")


def _ten_config(quick: bool) -> ExperimentConfig:
    if quick:  # the binary smoke run's data and training: its cells are shared
        return replace(_config(True), strategies=TEN)
    return ExperimentConfig(
        dataset="fashion_mnist", pool_size=10_000, test_size=2000, model="lenet", initial=100,
        query=50, rounds=18, seeds=(0, 1, 2), strategies=TEN,
        artifact_options={"wgan_gp": GAN}, device="auto",
        train=TrainConfig(epochs=20, min_steps=200),
    )  # fmt: skip


def _ten_experiments(quick: bool) -> dict[str, ExperimentConfig]:
    return {"ten": _ten_config(quick)}


def ten_class_gain(curves: Curves, idx) -> float:
    """AUC of ``asal:features=disc`` minus random's, in accuracy points, over the seeds
    ``idx`` (the normalised area: a mean accuracy over the budget span)."""
    return 100 * (curves.auc("ten", TEN[3], idx) - curves.auc("ten", "random", idx))


def _ten_details(curves: Curves) -> dict:
    idx = np.arange(len(curves.seeds))
    return {
        "auc": {s: round(curves.auc("ten", s), 4) for s in TEN},
        "final_accuracy": {s: round(float(curves.mean("ten", s)[1][-1]), 4) for s in TEN},
        "auc_gain_points_vs_random": {
            s: round(100 * (curves.auc("ten", s) - curves.auc("ten", "random")), 2) for s in TEN[1:]
        },
        "pick_entropy_%_vs_random": {
            s: round(_relative_entropy(curves, s, idx, "ten"), 1) for s in TEN[1:]
        },
        "largest_class_share_last_round": _largest_class_share(curves, "ten", TEN),
    }


def _largest_class_share(curves: Curves, experiment: str, strategies) -> dict:
    """Per strategy, the mean over seeds of the largest class's share of the labelled set at
    the last round (0.1 is balanced for ten classes): how skewed the picks made it."""
    frame = curves.frames[experiment]
    last = frame[(frame["round"] == frame["round"].max()) & frame["seed"].isin(curves.seeds)]
    share = last["class_counts"].map(lambda c: max(c) / sum(c))
    return {s: round(float(share[last["strategy"] == s].mean()), 3) for s in strategies}


def _ten_protocol(experiments: dict, quick: bool) -> str:
    c = experiments["ten"]
    gan = c.artifact_options["wgan_gp"]
    return (
        f"{c.dataset}, ten classes, pool {c.pool_size:,}, test {c.test_size:,}; "
        f"{c.model_name}, Adam lr {c.train.lr:g}, {c.train.epochs} epochs (≥ "
        f"{c.train.min_steps} steps), retrained from scratch each cycle; {c.initial} random "
        f"initial + {c.rounds}×{c.query} = {c.initial + sum(c.schedule())} labels; WGAN-GP "
        f"({gan['arch']}, {gan['iterations']:,} generator steps) on each seed's unlabelled pool "
        f"(cached); strategies {', '.join(c.strategies)}; seeds {list(c.seeds)}"
    )


def _ten_differences(experiments: dict, quick: bool) -> list[str]:
    c = experiments["ten"]
    if quick:
        return _differences({"run": c}, quick)
    return [
        "Fashion-MNIST instead of MNIST (MNIST is not available offline here)",
        f"pool {c.pool_size:,} (paper: 50,000), {c.initial + sum(c.schedule()):,} labels "
        "(paper: 10,000), LeNet (paper: its CNN); a CPU budget",
        f"an MLP WGAN-GP with {c.artifact_options['wgan_gp']['iterations']:,} generator "
        "steps (paper: the Table 5 networks, 100k steps)",
        "the auto-encoder space and the cls control are not run (the critic's space is the "
        "paper's best, gray the simplest)",
        f"{len(c.seeds)} seeds (paper: 5); the paper gives no number, so the row asks for the "
        "direction only",
    ]


def asal_savings(curves: Curves, idx) -> float:
    """% fewer labels than random for the same accuracy (:func:`alkit.metrics.label_savings`
    on the mean curves over ``idx``), averaged over ASAL's three feature spaces."""
    return float(np.mean([curves.savings("run", a, "random", idx) for a in ASAL]))


def _relative_entropy(curves: Curves, strategy: str, idx, experiment: str = "run") -> float:
    """Mean pick entropy of ``strategy`` relative to random's, in % (over the seeds ``idx``;
    each seed's value is its mean over the cycles)."""
    ours = curves.column_per_seed(experiment, strategy, "pick_entropy")[idx].mean()
    random = curves.column_per_seed(experiment, "random", "pick_entropy")[idx].mean()
    return float(100 * (ours / random - 1))


def asal_pick_entropy(curves: Curves, idx) -> float:
    """How much more uncertain ASAL's picks are than random's (%, Fig. 3b), averaged over the
    three feature spaces."""
    return float(np.mean([_relative_entropy(curves, a, idx) for a in ASAL]))


def _none_if_nan(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 1)


def _details(curves: Curves) -> dict:
    idx = np.arange(len(curves.seeds))
    budgets, random_mean = curves.mean("run", "random")
    last = {s: round(float(curves.mean("run", s)[1][-1]), 4) for s in STRATEGIES}
    return {
        "final_accuracy": last,
        "auc": {s: round(curves.auc("run", s), 4) for s in STRATEGIES},
        "pick_entropy_%_vs_random": {
            s: round(_relative_entropy(curves, s, idx), 1) for s in STRATEGIES[1:]
        },
        "labels_to_reach_random_final": {  # None: the mean curve never reaches it
            s: _none_if_nan(
                metrics.labels_to_reach(budgets, curves.mean("run", s)[1], random_mean[-1])
            )
            for s in STRATEGIES
        },
        "savings_%_vs_random": {
            s: _none_if_nan(curves.savings("run", s, "random")) for s in STRATEGIES[1:]
        },
        "budgets": [int(budgets[0]), int(budgets[-1])],
    }


def _protocol(experiments: dict, quick: bool) -> str:
    c = experiments["run"]
    gan = c.artifact_options["wgan_gp"]
    return (
        f"{c.dataset}, its whole two-class pool; a linear classifier (mlp with no hidden layer), "
        f"Adam lr {c.train.lr:g}, {c.train.epochs} epochs (≥ {c.train.min_steps} steps), "
        f"retrained from scratch each cycle; {c.initial} random initial + {c.rounds}×{c.query} "
        f"= {c.initial + sum(c.schedule())} labels; WGAN-GP ({gan['arch']} generator and "
        f"critic, {gan['iterations']:,} generator steps, λ = 10, 5 critic steps, Adam 1e-4, "
        "β = (0.5, 0.9)) and the Table 4 auto-encoder trained on each seed's unlabelled pool "
        "(cached artifacts); ASAL: 100 Adam steps of entropy ascent, PCA-50, exact k-d tree "
        f"matching without replacement; strategies {', '.join(c.strategies)}; seeds "
        f"{list(c.seeds)}"
    )


def _differences(experiments: dict, quick: bool) -> list[str]:
    c = experiments["run"]
    if quick:
        return [
            "SMOKE: digits (ten classes) and a tiny MLP GAN, "
            f"{c.initial + sum(c.schedule())} labels, {len(c.seeds)} seeds: checks the "
            "pipeline, not the claim"
        ]
    return [
        "Fashion-MNIST sandal vs sneaker instead of MNIST 5 vs 7 (MNIST is not available "
        "offline here)",
        "the pool is every training image of the two classes (12,000; paper: 10,000)",
        f"an MLP WGAN-GP with {c.artifact_options['wgan_gp']['iterations']:,} generator "
        "steps (paper: the DCGAN-style Table 5 networks for 40k–200k steps; the convolutional "
        "one costs about 1 s per step on this CPU)",
        "the claimed 200 vs 500 labels is read here as label savings for the same accuracy "
        "along the whole curve (metrics.label_savings), not at one accuracy level",
    ]


_COMMON = dict(
    seed="004",
    experiments=_experiments,
    protocol=_protocol,
    differences=_differences,
    details=_details,
)

register_claim(
    Claim(
        id="004-binary-savings",
        claim=(
            "On a binary task with a linear classifier, ASAL needs fewer labels than random for "
            "the same accuracy, in every feature space"
        ),
        source="Fig. 3a (MNIST 5 vs 7)",
        paper_value="98.5% with 200 labels, random needs 500: 60% fewer labels",
        paper_number=60.0,
        unit="% fewer labels than random (mean of gray, auto, disc)",
        statistic=asal_savings,
        **_COMMON,
    )
)
register_claim(
    Claim(
        id="004-pick-entropy",
        claim="The pool samples ASAL matches are more uncertain than random picks",
        source="Fig. 3b (MNIST 5 vs 7)",
        paper_value="+63% mean entropy of the added samples vs random",
        paper_number=63.0,
        unit="% more mean pick entropy than random (mean of gray, auto, disc)",
        statistic=asal_pick_entropy,
        **_COMMON,
    )
)
register_claim(
    Claim(
        id="004-ten-class",
        seed="004",
        claim=(
            "On ten classes, ASAL with the critic's features beats random selection: a larger "
            "area under the learning curve"
        ),
        source="Fig. 3c (MNIST ten classes)",
        paper_value="above random, the critic's features best, ≈ core-set; no number "
        "(direction only)",
        paper_number=0.0,
        unit="AUC points (asal:features=disc − random)",
        experiments=_ten_experiments,
        statistic=ten_class_gain,
        protocol=_ten_protocol,
        differences=_ten_differences,
        details=_ten_details,
    )
)


def read_selection_exponent(payload: dict) -> Reading:
    """The fitted exponent of ASAL's selection time (k-d tree index) against the pool size."""
    s = payload["summary"]
    rows = payload["rows"]
    sizes = [int(r["n"]) for r in rows]
    return Reading(
        value=float(s["asal_kdtree_exponent"]),
        low=None,
        high=None,
        interval=(
            f"a single timing run per pool size ({', '.join(f'{n:,}' for n in sizes)}); the "
            "exponent is a least-squares slope in log–log"
        ),
        n_units=1,
        units="runs",
        protocol=(
            f"Fashion-MNIST replicated with deterministic augmentations to {sizes}; selection of "
            f"{payload['picks']} samples = {payload['ascent_steps']} ascent steps + synthetic "
            f"features + exact k-d tree matching ({payload['feature_space']} space, PCA-50); "
            f"max-entropy = one classifier pass over the pool; {payload['includes']}; "
            f"{payload['machine']}, {payload['threads']} thread(s), shared machine"
        ),
        differences=[
            "Fashion-MNIST with augmentations instead of CelebA (the paper's Fig. 6a pool)",
            f"timings on an untrained {payload['generator']} and {payload['classifier']}: the "
            "costs do not depend on the weights",
            "a CPU instead of the paper's GPU",
        ],
        details={
            "entropy_exponent": round(float(s["entropy_exponent"]), 3),
            "match_kdtree_exponent": round(float(s["match_kdtree_exponent"]), 3),
            "crossover_pool_size_kdtree": round(float(s["crossover_n_kdtree"])),
            "select_s_kdtree": {f"{r['n']:,}": round(r["select_s_kdtree"], 2) for r in rows},
            "entropy_s": {f"{r['n']:,}": round(r["entropy_s"], 2) for r in rows},
            "transition_cycles_kdtree": {
                f"{r['n']:,}": round(r["transition_cycles_kdtree"]) for r in rows
            },
            "gan_seconds_per_iteration": round(float(s["gan_seconds_per_iteration"]), 3),
        },
    )


register_claim(
    MeasuredClaim(
        id="004-selection-sublinear",
        seed="004",
        claim=(
            "ASAL's selection time grows sub-linearly with the pool size (the paper: "
            "O(log n)), unlike max-entropy's O(n) pass over the pool"
        ),
        source="§4, Fig. 6a (CelebA, up to 16M images)",
        paper_value="O(log n): 44 s at 16M images vs 53 min for max-entropy (an exponent of 0)",
        paper_number=0.0,
        unit="fitted exponent of selection time vs pool size",
        benchmark="benchmarks/asal_time.py",
        result="asal_time.json",
        read=read_selection_exponent,
        protocol_text=(
            "Fashion-MNIST replicated to 60k, 240k and 1M images: ASAL's selection time "
            "(ascent, features, index query) against max-entropy's pool pass"
        ),
        null=1.0,
        better="lower",
        digits=2,
    )
)
