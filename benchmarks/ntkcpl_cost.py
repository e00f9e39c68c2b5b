"""Seed 002 (NTKCPL), cost of one selection round: time and peak memory vs the candidate-set size
M and the number of CPL clusters K_c; rank-one look-ahead vs re-solving the regression per
candidate; NTKCPL vs LookAhead end to end.

Data: 20,000 Fashion-MNIST training images, PCA to 128 dimensions and L2-normalised (a frozen-
feature stand-in with the paper's feature scale; not SSL features), saved once to a temporary
file; 200 random labels. Every case runs in a fresh process so ``getrusage`` gives its own peak resident
memory. A greedy round costs ``fixed + b × step``; long rounds are predicted from the measured
step time (the step cost does not depend on which pick it is).

    flock /tmp/alkit-bench.lock python benchmarks/ntkcpl_cost.py [--quick]

Writes ``benchmarks/results/ntkcpl_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

POOL = 20_000
N_LABELED = 200
OUT = Path(__file__).parent / "results" / "ntkcpl_cost.json"


FEATURES = Path(os.environ.get("TMPDIR", "/tmp")) / "alkit_ntkcpl_cost_features.npz"


def make_features() -> None:
    """FMNIST pool rows → PCA-128, L2-normalised, saved once for the cases (so each case's
    resident memory does not include the 60,000 raw images)."""
    from alkit.data import load_dataset

    ds = load_dataset("fashion_mnist")
    idx = np.random.default_rng(0).choice(len(ds.X_train), POOL, replace=False)
    X = torch.as_tensor(ds.X_train[idx].reshape(POOL, -1), dtype=torch.float32)
    X = X - X.mean(0)
    _, _, V = torch.pca_lowrank(X, q=128, center=False, niter=3)
    Z = X @ V
    Z = Z / Z.norm(dim=1, keepdim=True).clamp(min=1e-12)
    np.savez(FEATURES, X=Z.numpy(), y=ds.y_train[idx])


def features():
    data = np.load(FEATURES)
    return data["X"], data["y"]


def rss_mb() -> float:
    """Peak resident memory of this process so far, MiB: ``VmHWM`` (reset by exec, unlike
    ``ru_maxrss``, which a child inherits from the parent that spawned it)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def labelled(y):
    return np.sort(np.random.default_rng(1).choice(len(y), N_LABELED, replace=False))


def case_components(m: int, k: int, steps: int, prune_probe: bool) -> dict:
    """The pieces of one NTKCPL round at candidate size ``m`` and ``k`` CPL clusters."""
    from sklearn.linear_model import LogisticRegression

    from alkit.kernels.cpl import cpl_generation
    from alkit.kernels.ntk import head_params, ntk_head, pntk_factors, pntk_matrix
    from alkit.kernels.ntk_lookahead import downdate, lookahead_risk, ntk_posterior

    X, y = features()
    base = rss_mb()
    L = labelled(y)
    y_pred = LogisticRegression(max_iter=200).fit(X[L], y[L]).predict(X)
    y_pred[L] = y[L]
    rng = np.random.default_rng(2)
    cand = np.sort(rng.choice(np.setdiff1d(np.arange(POOL), L), m, replace=False))
    out = {"M": m, "K_c": k, "n_labeled": N_LABELED, "rss_after_data_mb": base}

    t = time.perf_counter()
    cpl = cpl_generation(X, y_pred, 20, k, L, y[L], seed=0)["labels"]
    out["cpl_s"] = time.perf_counter() - t

    t = time.perf_counter()
    head = ntk_head(X.shape[1], 64, k, seed=0)
    a = torch.as_tensor(X, dtype=torch.float64) @ head[0].weight.T + head[0].bias
    head[1].running_mean.copy_(a.mean(0).detach())
    head[1].running_var.copy_(a.var(0, unbiased=False).detach())
    rows = np.concatenate([cand, L])
    f = pntk_factors(X[rows], head_params(head))
    fM, fL = f.rows(range(m)), f.rows(range(m, len(rows)))
    theta_MM = pntk_matrix(fM, fM)
    theta_ML, theta_LL = pntk_matrix(fM, fL), pntk_matrix(fL, fL)
    out["kernel_s"] = time.perf_counter() - t

    t = time.perf_counter()
    Y = torch.nn.functional.one_hot(torch.as_tensor(cpl[L]), k).double()
    ridge = 1e-5 * float(theta_LL.diagonal().mean())
    post = ntk_posterior(
        theta_MM, theta_ML, theta_LL, Y - fL.outputs_N_C, fM.outputs_N_C, ridge, overwrite=True
    )
    out["posterior_s"] = time.perf_counter() - t

    y_M = cpl[cand]
    active = np.ones(m, dtype=bool)
    step_s = []
    for _ in range(steps):
        t = time.perf_counter()
        c = np.flatnonzero(active)
        risk = lookahead_risk(post.F_M_K, post.A_M_M, y_M, c, post.ridge, eval_mask_M=active)
        j = int(c[int(torch.argmin(risk))])
        downdate(post, j, int(y_M[j]))
        active[j] = False
        step_s.append(time.perf_counter() - t)
    out["step_s"] = step_s
    out["step_s_median"] = float(np.median(step_s))
    if prune_probe:
        c = np.flatnonzero(active)[:: max(1, m // 200)]
        t = time.perf_counter()
        exact = lookahead_risk(post.F_M_K, post.A_M_M, y_M, c, post.ridge, eval_mask_M=active)
        t_exact = time.perf_counter() - t
        t = time.perf_counter()
        pruned = lookahead_risk(
            post.F_M_K, post.A_M_M, y_M, c, post.ridge, eval_mask_M=active, prune=True
        )
        t_pruned = time.perf_counter() - t
        F = post.F_M_K
        top2 = F.topk(2, 1).values
        J = torch.as_tensor(c)
        alpha = post.A_M_M[J] / (post.A_M_M[J, J] + post.ridge)[:, None]
        delta = -F[J]
        delta[torch.arange(len(J)), torch.as_tensor(y_M[c])] += 1.0
        spread = delta.max(1).values - delta.min(1).values
        moved = (alpha.abs() * spread[:, None] >= (top2[:, 0] - top2[:, 1])[None]).double()
        out["prune"] = {
            "equal": bool(torch.equal(exact, pruned)),
            "pairs_needing_argmax": float(moved.mean()),
            "pruned_over_exact_time": t_pruned / t_exact,
        }
    fixed = out["cpl_s"] + out["kernel_s"] + out["posterior_s"]
    out["round_s_predicted"] = {b: fixed + b * out["step_s_median"] for b in (20, 100, 500)}
    if prune_probe:
        step = out["step_s_median"] * out["prune"]["pruned_over_exact_time"]
        out["round_s_predicted_pruned"] = {b: fixed + b * step for b in (20, 100, 500)}
    return out


def case_resolve(m: int, k: int, n_resolve: int) -> dict:
    """One greedy step by rank-one updates vs by re-solving the regression for candidates."""
    from alkit.kernels.ntk import head_params, ntk_head, pntk_factors, pntk_matrix
    from alkit.kernels.ntk_lookahead import lookahead_risk, ntk_posterior

    X, y = features()
    L = labelled(y)
    rng = np.random.default_rng(3)
    cand = np.sort(rng.choice(np.setdiff1d(np.arange(POOL), L), m, replace=False))
    cpl = rng.integers(0, k, POOL)
    head = ntk_head(X.shape[1], 64, k, seed=0)
    rows = np.concatenate([cand, L])
    f = pntk_factors(X[rows], head_params(head))
    theta = pntk_matrix(f, f)
    Y = torch.nn.functional.one_hot(torch.as_tensor(cpl[rows]), k).double()
    F0 = f.outputs_N_C
    Mi, Li = torch.arange(m), torch.arange(m, len(rows))
    ridge = 1e-5 * float(theta[Li][:, Li].diagonal().mean())

    def solve(lab):
        lab = torch.as_tensor(lab)
        return ntk_posterior(
            theta[Mi][:, Mi],
            theta[Mi][:, lab],
            theta[lab][:, lab],
            Y[lab] - F0[lab],
            F0[Mi],
            ridge,
        )

    post = solve(Li)
    t = time.perf_counter()
    risk = lookahead_risk(post.F_M_K, post.A_M_M, cpl[cand], np.arange(m), post.ridge)
    rank_one = time.perf_counter() - t
    sample = rng.choice(m, n_resolve, replace=False)
    t = time.perf_counter()
    agree = 0
    for j in sample:
        lab = torch.cat([Li, torch.as_tensor([int(j)])])
        F = (
            theta[Mi][:, lab]
            @ torch.cholesky_solve(
                Y[lab] - F0[lab],
                torch.linalg.cholesky(
                    theta[lab][:, lab] + ridge * torch.eye(len(lab), dtype=torch.float64)
                ),
            )
            + F0[Mi]
        )
        wrong = F.argmax(1).numpy() != cpl[cand]
        wrong[j] = False
        agree += int(wrong.sum()) == int(risk[j])
    resolve = (time.perf_counter() - t) / n_resolve * m
    return {
        "M": m,
        "K_c": k,
        "n_labeled": N_LABELED,
        "rank_one_step_s": rank_one,
        "resolve_step_s_extrapolated": resolve,
        "resolve_sampled_candidates": n_resolve,
        "risks_equal_on_sample": agree == n_resolve,
        "resolve_over_rank_one": resolve / rank_one,
    }


def case_end_to_end(spec: str, b: int) -> dict:
    """One query of a registered strategy on a trained 2-layer head (FMNIST PCA features)."""
    from alkit.data import Pool
    from alkit.models import build_model
    from alkit.strategies import QueryContext, get_strategy
    from alkit.train import Learner, TrainConfig, seed_everything

    X, y = features()
    base = rss_mb()
    L = labelled(y)
    pool = Pool(X, y, labeled_idx=L)
    seed_everything(0)
    net = build_model("mlp", (X.shape[1],), 10, hidden=(64,), dropout=0.0)
    learner = Learner(net, TrainConfig(epochs=30, min_steps=300), device="cpu", seed=0)
    learner.fit(X[L], y[L])
    ctx = QueryContext(pool, learner, rng=np.random.default_rng(0), round=1)
    strategy = get_strategy(spec)
    t = time.perf_counter()
    q = strategy.query(ctx, b)
    out = {"strategy": spec, "b": b, "seconds": time.perf_counter() - t, "rss_after_data_mb": base}
    if "n_clusters" in q.info:
        out["K_c"] = q.info["n_clusters"]
        out["coverage_estimate"] = q.info["coverage_estimate"]
    return out


def run_child(args: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", ALKIT_PROGRESS="0")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def child(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "components":
        out = case_components(int(rest[0]), int(rest[1]), int(rest[2]), rest[3] == "1")
    elif kind == "resolve":
        out = case_resolve(int(rest[0]), int(rest[1]), int(rest[2]))
    else:
        out = case_end_to_end(rest[0], int(rest[1]))
    out["peak_rss_mb"] = rss_mb()
    if "rss_after_data_mb" in out:
        out["round_extra_rss_mb"] = out["peak_rss_mb"] - out["rss_after_data_mb"]
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="M ≤ 3,000 only")
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    load = os.getloadavg()
    t0 = time.perf_counter()
    make_features()
    sizes = [(1000, 20, 3, 1), (1000, 100, 3, 1), (3000, 20, 3, 1), (3000, 100, 3, 1)]
    if not args.quick:
        sizes += [(10000, 20, 1, 1), (10000, 100, 1, 1)]
    components = [run_child(["components", *map(str, s)]) for s in sizes]
    resolve = [
        run_child(["resolve", "1000", "20", "25"]),
        run_child(["resolve", "1000", "100", "25"]),
    ]
    end_to_end = [
        run_child(["end_to_end", spec, "20"])
        for spec in (
            "lookahead:max_candidates=3000",
            "lookahead",
            "ntkcpl:max_candidates=1000",
            "ntkcpl:max_candidates=3000",
            "ntkcpl:max_candidates=3000:prune=false",
            "ntkcpl:max_candidates=3000:picks_per_step=5",
        )
    ]
    result = {
        "benchmark": "ntkcpl_cost",
        "paper": "Wen, Pizarro & Williams 2023 (seed 002), Fig. 9 / spec §9",
        "data": f"Fashion-MNIST train, {POOL}-row pool, PCA-128 L2-normalised (not SSL)",
        "n_labeled": N_LABELED,
        "head": "Linear(128→64) → BN(pool stats) → ReLU → Linear(64→K_c), float64",
        "machine": "CPU, 2 cores shared with other jobs; OMP_NUM_THREADS=1 per case",
        "memory_note": "peak_rss_mb (VmHWM) of a fresh process per case, torch and the "
        "20,000 × 128 features included; round_extra_rss_mb = peak − the resident size right "
        "after loading the features",
        "load_average_at_start": load,
        "components": components,
        "rank_one_vs_resolve": resolve,
        "end_to_end": end_to_end,
        "total_s": time.perf_counter() - t0,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
