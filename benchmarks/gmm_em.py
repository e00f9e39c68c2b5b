"""EM speed: alkit's torch diagonal GMM vs scikit-learn's GaussianMixture(covariance_type='diag').

60,000 × 128 features (Fashion-MNIST pixels projected by a fixed random matrix, so the data are
real and clustered), K = 10, 10 EM iterations, both from the same initialisation (class means of
the first labelled rows, equal weights, global variances). Reports the wall time of each, the
ratio, the final mean log-likelihood of each and their relative difference, and peak memory
(tracemalloc for NumPy/sklearn, torch's CUDA peak on GPU; torch's CPU allocations are not
traced by tracemalloc, so the process max RSS growth over both runs is given too). Timings on a shared CPU are noisy:
the best of ``--repeats`` runs is kept.

    PYTHONPATH=. python benchmarks/gmm_em.py [--n 60000 --d 128 --k 10 --iters 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from alkit.data import load_dataset
from alkit.kernels.gmm import fit_gmm, init_from_means, log_likelihood

RESULTS = Path(__file__).parent / "results"


def features(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    ds = load_dataset("fashion_mnist")
    X = ds.X_train[:n].reshape(min(n, len(ds.X_train)), -1).astype(np.float32)
    proj = np.random.default_rng(0).normal(size=(X.shape[1], d)).astype(np.float32)
    Z = X @ proj / np.sqrt(X.shape[1])
    return Z, ds.y_train[:n]


def run_sklearn(Z, init, iters):
    gm = GaussianMixture(
        init.n_components,
        covariance_type="diag",
        max_iter=iters,
        tol=0.0,
        reg_covar=1e-6,
        weights_init=np.full(init.n_components, 1.0 / init.n_components),
        means_init=init.means_K_D.numpy().astype(np.float64),
        precisions_init=1.0 / init.vars_K_D.numpy().astype(np.float64),
        init_params="random_from_data",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(Z)
    return gm


def timed(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=60_000)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--threads", type=int, default=1, help="CPU threads for both torch and sklearn's BLAS"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    limits = threadpool_limits(args.threads)
    Z, y = features(args.n, args.d)
    first = [int(np.flatnonzero(y == c)[0]) for c in range(args.k)]
    init = init_from_means(Z, Z[first])
    rows = []

    # Interleave the two so that both see the same load on a shared machine; keep the best.
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_torch = t_sk = np.inf
    tracemalloc.start()
    for _ in range(args.repeats):
        t, params = timed(lambda: fit_gmm(torch.from_numpy(Z), init, args.iters), 1)
        t_torch = min(t_torch, t)
        tracemalloc.reset_peak()
        t, gm = timed(lambda: run_sklearn(Z, init, args.iters), 1)
        t_sk = min(t_sk, t)
        peak_sk = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss_torch = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    ll_torch = float(log_likelihood(Z, params).double().mean())
    ll_sk = float(gm.score(Z))
    rows.append(("alkit torch (cpu, float32)", t_torch, ll_torch, "(not traced)"))
    rows.append(("sklearn GaussianMixture diag (float64)", t_sk, ll_sk, f"{peak_sk:.0f} MiB peak"))
    rows.append(("both: process max RSS growth", np.nan, np.nan, f"+{rss_torch:.0f} MiB"))

    gpu = None
    if torch.cuda.is_available():
        Zg = torch.from_numpy(Z).cuda()
        fit_gmm(Zg, init, 1)
        torch.cuda.reset_peak_memory_stats()
        t_gpu, pg = timed(lambda: fit_gmm(Zg, init, args.iters), args.repeats)
        ll_gpu = float(log_likelihood(Zg, pg).double().mean())
        mem = torch.cuda.max_memory_allocated() / 2**20
        rows.append(("alkit torch (cuda, float32)", t_gpu, ll_gpu, f"{mem:.0f} MiB CUDA peak"))
        gpu = {"seconds": t_gpu, "loglik": ll_gpu, "device": torch.cuda.get_device_name()}

    limits.restore_original_limits()
    rel = abs(ll_torch - ll_sk) / abs(ll_sk)
    print(
        f"EM, N={args.n} D={args.d} K={args.k}, {args.iters} iterations, same init "
        f"(best of {args.repeats}, torch threads={torch.get_num_threads()})"
    )
    print(f"{'method':42s} {'seconds':>9s} {'mean loglik':>14s}  memory")
    for name, t, ll, mem in rows:
        print(f"{name:42s} {t:9.3f} {ll:14.6f}  {mem}")
    print(
        f"speed-up torch/sklearn on CPU: {t_sk / t_torch:.2f}x; "
        f"relative log-likelihood difference {rel:.2e}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gmm_em.json").write_text(
        json.dumps(
            {
                "setting": vars(args) | {"torch_threads": torch.get_num_threads()},
                "alkit_torch_cpu": {"seconds": t_torch, "loglik": ll_torch},
                "process_maxrss_growth_mib": rss_torch,
                "sklearn_diag": {"seconds": t_sk, "loglik": ll_sk, "tracemalloc_peak_mib": peak_sk},
                "alkit_torch_cuda": gpu,
                "speedup_cpu": t_sk / t_torch,
                "relative_loglik_difference": rel,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
