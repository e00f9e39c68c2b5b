"""Greedy Wasserstein prototypes (thesis ch. 9): solver speed and fidelity, and W(U, S_k) curves.

Features: the 50-d penultimate embeddings of a LeNet trained briefly on Fashion-MNIST
(``--train`` images, ``--epochs``), for ``--pool`` training images.

Part A, one greedy step (seed001 spec §5.3): ``--candidates`` candidates, ``|S| = --start``
random pool rows, a target of ``--target`` pool rows, cost ``‖x − u‖²`` divided by its max.
For each solver (exact EMD in a loop and with 2 threads; batched log-domain Sinkhorn and IPOT at
the thesis's setting, ε = β = 1e-3 and 10 iterations, and at the converged presets) the wall
time of scoring every candidate and, against exact EMD: Spearman ρ of the candidates' costs,
median relative error, whether the argmin agrees and the overlap of the 10 best. ``--trials``
draws of (S, candidates, target); the converged presets (slow on a CPU) in the first
``--converged-trials`` only.

Part B, the curve of Fig. 9.4e: from ``S₀ = ∅``, ``--k`` greedy picks among ``--curve-candidates``
candidates towards a ``--curve-target`` target, for each solver; every prefix ``S_j`` is then
scored by exact EMD ``W₂(S_j, U)``; random prefixes (mean of ``--random-draws`` draws) for
reference. Also the greedy/optimum check on the thesis's three 2-D toys (brute force, n = 10,
k = 3) against the bound of Th. 2.1 with the proof's ``2 Diam/e``.

    flock /tmp/alkit-bench.lock env PYTHONPATH=. python benchmarks/ot_prototypes.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from alkit.data import load_dataset
from alkit.kernels.ot import ground_cost, transport_costs
from alkit.kernels.prototypes import (
    _StackedCosts,
    diameter,
    greedy_wasserstein_prototypes,
    wasserstein_distance,
)
from alkit.models import build_model
from alkit.train import Learner, TrainConfig, seed_everything

RESULTS = Path(__file__).parent / "results"
SETTINGS = [
    ("emd", None, 1),
    ("emd", None, 2),
    ("sinkhorn", "thesis", 1),
    ("ipot", "thesis", 1),
    ("sinkhorn", "converged", 1),
    ("ipot", "converged", 1),
]


def embeddings(n_train: int, n_pool: int, epochs: int, seed: int = 0) -> np.ndarray:
    ds = load_dataset("fashion_mnist")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ds.y_train))
    seed_everything(seed)
    net = build_model("lenet", (1, 28, 28), 10, p_conv=0.0, p_fc=0.0)
    learner = Learner(net, TrainConfig(epochs=epochs, min_steps=0), device="auto", seed=seed)
    learner.fit(ds.X_train[idx[:n_train]], ds.y_train[idx[:n_train]])
    return learner.embed(ds.X_train[idx[n_train : n_train + n_pool]])


def step_costs(C_S, C_cand, solver, preset, workers):
    """One greedy step's costs for every candidate, and its wall time."""
    s = len(C_S) + 1
    a = np.full(s, 1.0 / s)
    b = np.full(C_cand.shape[1], 1.0 / C_cand.shape[1])
    t0 = time.perf_counter()
    if solver == "emd":
        costs = transport_costs(
            _StackedCosts(C_S.double().numpy(), C_cand.double().numpy()), a, b, "emd", None, workers
        )
    else:
        C = torch.cat([C_S.expand(len(C_cand), *C_S.shape), C_cand[:, None, :]], dim=1)
        costs = transport_costs(C, a, b, solver, preset)
    return costs, time.perf_counter() - t0


def part_a(Z, args):
    rng = np.random.default_rng(1)
    trials = []
    for trial in range(args.trials):
        idx = rng.permutation(len(Z))
        cand = Z[idx[: args.candidates]]
        S = Z[idx[args.candidates : args.candidates + args.start]]
        U = Z[idx[-args.target :]]
        C_cand, C_S = ground_cost(cand, U), ground_cost(S, U)
        scale = float(C_cand.max())
        C_cand, C_S = C_cand / scale, C_S / scale
        exact = None
        rows = {}
        for solver, preset, workers in SETTINGS:
            if preset == "converged" and trial >= args.converged_trials:
                continue
            costs, seconds = step_costs(C_S, C_cand, solver, preset, workers)
            if exact is None:
                exact = costs
            name = f"{solver}/{preset}" if preset else f"emd/{workers} thread(s)"
            top = set(np.argsort(costs)[:10]) & set(np.argsort(exact)[:10])
            rows[name] = {
                "seconds": seconds,
                "spearman_vs_exact": float(spearmanr(costs, exact).statistic),
                "median_relative_error": float(np.median(np.abs(costs / exact - 1))),
                "argmin_agrees": bool(np.argmin(costs) == np.argmin(exact)),
                "top10_overlap": len(top),
            }
            print(
                f"  trial {trial} {name:22s} {seconds:8.3f} s  ρ={rows[name]['spearman_vs_exact']:.3f}"
            )
        trials.append(rows)
    summary = {}
    for name in trials[0]:
        vals = [t[name] for t in trials if name in t]
        summary[name] = {
            "seconds_median": float(np.median([v["seconds"] for v in vals])),
            "spearman_min": min(v["spearman_vs_exact"] for v in vals),
            "spearman_max": max(v["spearman_vs_exact"] for v in vals),
            "median_relative_error": float(np.median([v["median_relative_error"] for v in vals])),
            "argmin_agrees": f"{sum(v['argmin_agrees'] for v in vals)} of {len(vals)}",
            "top10_overlap_mean": float(np.mean([v["top10_overlap"] for v in vals])),
        }
    return trials, summary


def part_b(Z, args):
    rng = np.random.default_rng(2)
    idx = rng.permutation(len(Z))
    cand = Z[idx[: args.curve_candidates]]
    U = Z[idx[-args.curve_target :]]
    curves, times = {}, {}
    for solver, preset, _ in [s for s in SETTINGS if s[2] == 1]:
        name = f"{solver}/{preset}" if preset else "emd"
        t0 = time.perf_counter()
        picks, _ = greedy_wasserstein_prototypes(
            cand,
            U,
            args.k,
            solver=solver,
            preset=preset or "thesis",
            max_target=None,
            progress=False,
        )
        times[name] = time.perf_counter() - t0
        curves[name] = [wasserstein_distance(cand[picks[: j + 1]], U) for j in range(args.k)]
        print(f"  curve {name:22s} {times[name]:8.2f} s  W(U, S_k)={curves[name][-1]:.4f}")
    draws = []
    for _ in range(args.random_draws):
        perm = rng.permutation(len(cand))[: args.k]
        draws.append([wasserstein_distance(cand[perm[: j + 1]], U) for j in range(args.k)])
    curves["random (mean)"] = np.mean(draws, axis=0).tolist()
    curves["random (std)"] = np.std(draws, axis=0).tolist()
    return curves, times


def toys():
    """Greedy vs brute-force optimum on the thesis's three 2-D toys (n = 10, k = 3)."""
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 2 * np.pi, 10)
    sets = {
        "circle": np.stack([np.cos(angles), np.sin(angles)], 1) * rng.uniform(0.8, 1.2, (10, 1)),
        "3 gaussians": np.concatenate(
            [rng.normal(c, 0.3, size=(k, 1)) for c, k in ((0, 4), (3, 3), (6, 3))]
        ),
        "3 gaussians, ratios": np.concatenate(
            [rng.normal(c, 0.3, size=(k, 2)) for c, k in (((0, 0), 6), ((3, 0), 3), ((1.5, 3), 1))]
        ),
    }
    out = {}
    for name, P in sets.items():
        _, curve = greedy_wasserstein_prototypes(P, P, 3)
        opt = min(wasserstein_distance(P[list(S)], P) for S in itertools.combinations(range(10), 3))
        diam = diameter(P)
        bound = (1 - 1 / math.e) * opt + 2 * diam / math.e
        out[name] = {
            "greedy": float(curve[-1]),
            "optimum": opt,
            "bound_2diam_over_e": bound,
            "greedy_over_optimum": float(curve[-1]) / opt,
        }
        print(f"  toy {name:22s} greedy {curve[-1]:.4f}  optimum {opt:.4f}  bound {bound:.4f}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--pool", type=int, default=3000)
    p.add_argument("--candidates", type=int, default=128)
    p.add_argument("--start", type=int, default=20)
    p.add_argument("--target", type=int, default=300)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument(
        "--converged-trials", type=int, default=1, help="trials that also run the converged presets"
    )
    p.add_argument("--curve-candidates", type=int, default=80)
    p.add_argument("--curve-target", type=int, default=150)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--random-draws", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    Z = embeddings(args.train, args.pool, args.epochs)
    transport_costs([np.zeros((2, 2))])  # imports POT outside the timings
    print("Part A: one greedy step")
    trials, summary = part_a(Z, args)
    print("Part B: W(U, S_k) along the greedy sequence")
    curves, times = part_b(Z, args)
    print("Toys: greedy vs brute-force optimum")
    toy = toys()
    print(f"\n{'solver':24s} {'s/step':>8s} {'ρ min':>6s} {'ρ max':>6s} {'rel.err':>8s} argmin")
    for name, row in summary.items():
        print(
            f"{name:24s} {row['seconds_median']:8.3f} {row['spearman_min']:6.3f} "
            f"{row['spearman_max']:6.3f} {row['median_relative_error']:8.4f} {row['argmin_agrees']}"
        )
    print(f"\n{'curve':24s} " + " ".join(f"k={j + 1:<3d}" for j in range(0, args.k, 3)))
    for name, c in curves.items():
        print(f"{name:24s} " + " ".join(f"{c[j]:.3f}" for j in range(0, args.k, 3)))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ot_prototypes.json").write_text(
        json.dumps(
            {
                "setting": vars(args) | {"torch_threads": torch.get_num_threads()},
                "machine": (
                    f"shared 2-core CPU, no GPU; load average {load[0]:.1f} at start "
                    f"({load[1]:.1f} over 5 min): absolute times are inflated, compare ratios"
                ),
                "features": "LeNet penultimate embeddings (50-d) of Fashion-MNIST",
                "one_step": {"summary": summary, "trials": trials},
                "curves_exact_w2": curves,
                "curve_seconds": times,
                "toys_bruteforce": toy,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
