"""Selection time vs pool size: max-entropy sampling against ASAL's phases (seed 004, Fig. 6).

Pool: Fashion-MNIST's 60,000 training images, grown to 240k and 1M by deterministic
augmentation (every copy beyond the first is the original shifted by up to ±2 pixels and
flipped left-right at random, from a fixed seed), stored as uint8 and converted block by block.

Per pool size N (``--sizes``):

* **max-entropy**: one pass of the classifier (alkit's ``lenet``, ≈ 0.5M MACs per image) over the
  pool in blocks, entropies, top-``picks``. O(N).
* **ASAL selection** (what the paper times, Fig. 6a), split into phases:
  ``ascent`` (``picks`` latents × ``steps`` Adam steps through G = :class:`Generator28` (DIM =
  ``--width``) and the classifier; independent of N), ``features`` (F_PCA of the synthetic
  images; ``gray`` = pixels) and ``match`` (index query + matching without replacement, per
  backend).
* **recall@1** of every backend on 500 perturbed pool rows: the share of queries whose returned
  neighbour is as near as the nearest any exact backend found (by distance: augmented copies
  can be exact duplicates, so indices alone would count ties as misses; the index agreement
  with brute force is recorded too). Approximate backends (FAISS HNSW; pynndescent with
  ``--backends brute,kdtree,pynndescent``, its numba compilation timed apart) run on pools up
  to ``--approx-max-n``.
* **preprocessing** (once per pool): gray features + PCA (covariance streamed over a fixed
  50,000-row subsample, as spec §6 allows) + projection of the whole pool + index build, per
  backend; plus the WGAN-GP training time, extrapolated from ``--gan-probe`` timed iterations to
  the spec's CPU recipe (DIM 32, 20,000 iterations).

The networks are untrained: their cost does not depend on the weights, and these are timings,
not accuracies. An untrained generator maps every latent to nearly the same image, so the
matching meets the worst case of collisions (recorded per backend with the re-queries). Then: least-squares exponents of T(N) on log-log axes, the crossover pool size
where ASAL's selection becomes cheaper than max-entropy (extrapolated when it lies outside the
measured range), the recall@1 of the approximate backends against brute force, and the paper's
transition point k* = T_pre / (T_entropy − T_ASAL) (cycles after which ASAL's total time,
preprocessing included, is lower; Fig. 6b). Classifier training is excluded, as in the paper.

Usage (shared machines: wrap in ``flock /tmp/alkit-bench.lock``)::

    python benchmarks/asal_time.py [--sizes 60000,240000,1000000] [--threads 1] [--quick]

Writes ``benchmarks/results/asal_time.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alkit.data import load_dataset  # noqa: E402
from alkit.generative import train_wgan_gp  # noqa: E402
from alkit.kernels.latent import ascend_entropy  # noqa: E402
from alkit.kernels.nn_index import EXACT_BACKENDS, NearestIndex  # noqa: E402
from alkit.kernels.pca import fit_pca_streamed, project_streamed  # noqa: E402
from alkit.models import build_model  # noqa: E402
from alkit.models.generative import Generator28  # noqa: E402
from alkit.strategies.uncertainty import entropy  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "asal_time.json"
BLOCK = 4096
PCA_FIT_ROWS = 50_000
GAN_ITERATIONS_CPU = 20_000


def augmented_pool(base_u8: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` uint8 images: the base set, then shifted (±2 px) and randomly flipped copies."""
    out = np.empty((n, *base_u8.shape[1:]), dtype=np.uint8)
    m = len(base_u8)
    out[: min(n, m)] = base_u8[: min(n, m)]
    rng = np.random.default_rng(seed)
    for start in range(m, n, m):
        stop = min(n, start + m)
        src = base_u8[: stop - start]
        dy, dx = rng.integers(-2, 3, size=2)
        block = np.roll(src, (int(dy), int(dx)), axis=(2, 3))
        flip = rng.random(len(src)) < 0.5
        block[flip] = block[flip][..., ::-1]
        out[start:stop] = block
    return out


def as_float(block_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(block_u8.astype(np.float32) / 255.0)


def time_entropy(model, pool_u8: np.ndarray, picks: int) -> float:
    """Max-entropy selection: classifier pass over the pool, entropies, top-``picks``."""
    t0 = time.perf_counter()
    ents = np.empty(len(pool_u8))
    with torch.no_grad():
        for s in range(0, len(pool_u8), BLOCK):
            probs = torch.softmax(model(as_float(pool_u8[s : s + BLOCK])), 1).numpy()
            ents[s : s + BLOCK] = entropy(probs)
    np.argpartition(-ents, picks)[:picks]
    return time.perf_counter() - t0


def fit_exponent(ns, ts) -> tuple[float, float]:
    """``(a, b)`` of the least-squares fit ``T = a · N^b`` on log-log axes."""
    b, log_a = np.polyfit(np.log(ns), np.log(ts), 1)
    return float(np.exp(log_a)), float(b)


def crossover(fit_e, fit_a) -> float:
    """N where a_e N^b_e = a_a N^b_a (inf when the curves never cross for N > 0 upward)."""
    (a_e, b_e), (a_a, b_a) = fit_e, fit_a
    if b_e <= b_a:
        return float("inf")
    return float((a_a / a_e) ** (1.0 / (b_e - b_a)))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="60000,240000,1000000")
    p.add_argument("--picks", type=int, default=50)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--gan-probe", type=int, default=5)
    p.add_argument("--backends", default="brute,kdtree,faiss")
    p.add_argument("--approx-max-n", type=int, default=60_000,
                   help="largest pool on which the approximate indexes are built")  # fmt: skip
    p.add_argument("--pynndescent-max-n", type=int, default=60_000)
    p.add_argument("--max-minutes", type=float, default=9.0)
    p.add_argument("--quick", action="store_true", help="sizes 6000,24000; 20 ascent steps")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.steps, args.gan_probe = "6000,24000", 20, 3
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = [b for b in args.backends.split(",") if b]
    torch.set_num_threads(args.threads)
    t_begin = time.perf_counter()
    load_before = os.getloadavg()

    data = load_dataset("fashion_mnist")
    base = np.round(data.X_train * 255).astype(np.uint8)
    pool_all = augmented_pool(base, max(sizes))
    torch.manual_seed(0)
    clf = build_model("lenet", (1, 28, 28), 10).eval()
    gen = Generator28(width=args.width).eval()
    labelled = np.random.default_rng(0).choice(min(sizes), 100, replace=False)

    # GAN training cost: a few timed iterations of the real recipe, extrapolated
    t0 = time.perf_counter()
    train_wgan_gp(base[:5000].astype(np.float32) / 255.0, seed=0, iterations=args.gan_probe,
                  width=args.width, device="cpu", progress=False)  # fmt: skip
    gan_s_per_it = (time.perf_counter() - t0) / args.gan_probe
    gan_total_s = gan_s_per_it * GAN_ITERATIONS_CPU

    z0 = np.random.default_rng(1).normal(size=(args.picks, gen.latent_dim)).astype(np.float32)
    rows, recall = [], {}
    for n in sizes:
        if (time.perf_counter() - t_begin) / 60 > args.max_minutes:
            rows.append({"n": n, "skipped": f"time guard of {args.max_minutes} min reached"})
            continue
        pool = pool_all[:n]
        row = {"n": n, "entropy_s": time_entropy(clf, pool, args.picks)}

        def gray_block(s, e, rows_idx=None, pool=pool):
            sel = slice(s, e) if rows_idx is None else rows_idx[s:e]
            return as_float(pool[sel]).flatten(1)

        fit_rows = None
        if n > PCA_FIT_ROWS:
            fit_rows = np.sort(np.random.default_rng(0).choice(n, PCA_FIT_ROWS, replace=False))
        t0 = time.perf_counter()
        pca = fit_pca_streamed(
            lambda s, e, fr=fit_rows: gray_block(s, e, fr),
            n if fit_rows is None else len(fit_rows),
            50,
        )
        row["pca_fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        S = project_streamed(gray_block, n, pca)
        row["project_pool_s"] = time.perf_counter() - t0
        row["store_mb"] = S.numel() * 4 / 2**20

        t0 = time.perf_counter()
        asc = ascend_entropy(gen, clf, z0, steps=args.steps, lr=0.01)
        row["ascent_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with torch.no_grad():
            f_syn = pca.transform(gen(asc.z_S_L).flatten(1))
        row["features_s"] = time.perf_counter() - t0
        order = np.argsort(-asc.entropy_T_S[-1].numpy(), kind="stable")
        exclude = np.zeros(n, dtype=bool)
        exclude[labelled] = True
        probe_q = S[np.random.default_rng(2).choice(n, 500, replace=False)] + 0.5 * torch.randn(
            500, S.shape[1], generator=torch.Generator().manual_seed(3)
        )
        probe = {}  # backend → (distance, index) of each probe's nearest neighbour
        for backend in backends:
            if backend not in EXACT_BACKENDS and n > args.approx_max_n:
                continue
            if backend == "pynndescent" and n > args.pynndescent_max_n:
                continue
            if backend == "pynndescent" and "pynndescent_jit_s" not in recall:
                t0 = time.perf_counter()  # numba compiles once per process: timed apart
                NearestIndex(S[:2000], "pynndescent").query(S[:5], 2)
                recall["pynndescent_jit_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            index = NearestIndex(S, backend)
            row[f"index_build_s_{backend}"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            m = index.match(f_syn, exclude_N=exclude, order=order)
            row[f"match_s_{backend}"] = time.perf_counter() - t0
            row[f"select_s_{backend}"] = (
                row["ascent_s"] + row["features_s"] + row[f"match_s_{backend}"]
            )
            row[f"collisions_{backend}"] = int((m.ranks_Q_p > 0).sum())
            row[f"requeries_{backend}"] = m.n_requeries
            d1, i1 = index.query(probe_q, 1)
            probe[backend] = (d1[:, 0], i1[:, 0])
            del index
        # recall@1 by distance: augmented copies can be exact duplicates (ties), so a hit is a
        # neighbour as near as the nearest any exact backend found (distances recomputed in
        # float64 from the same vectors, so a tie compares equal)
        exact = [probe[b][0] for b in EXACT_BACKENDS if b in probe]
        if exact:
            ref = np.minimum.reduce(exact)
            for backend, (d1, i1) in probe.items():
                recall[f"recall_at_1_{backend}_n{n}"] = float((d1 <= ref * (1 + 1e-9)).mean())
                if "brute" in probe and backend != "brute":
                    recall[f"same_index_as_brute_{backend}_n{n}"] = float(
                        (i1 == probe["brute"][1]).mean()
                    )
        row["preprocess_s_kdtree"] = (
            row["pca_fit_s"] + row["project_pool_s"] + row.get("index_build_s_kdtree", 0.0)
        )
        rows.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))

    done = [r for r in rows if "entropy_s" in r]
    summary: dict = {"gan_seconds_per_iteration": gan_s_per_it,
                     "gan_training_s_extrapolated_20k": gan_total_s}  # fmt: skip
    if len(done) >= 2:
        ns = [r["n"] for r in done]
        fit_e = fit_exponent(ns, [r["entropy_s"] for r in done])
        summary["entropy_exponent"] = fit_e[1]
        for backend in ("brute", "kdtree"):
            key = f"select_s_{backend}"
            if all(key in r for r in done):
                fit_a = fit_exponent(ns, [r[key] for r in done])
                summary[f"asal_{backend}_exponent"] = fit_a[1]
                summary[f"match_{backend}_exponent"] = fit_exponent(
                    ns, [r[f"match_s_{backend}"] for r in done]
                )[1]
                summary[f"crossover_n_{backend}"] = crossover(fit_e, fit_a)
        for r in done:
            gain = r["entropy_s"] - r.get("select_s_kdtree", np.inf)
            pre = gan_total_s + r["preprocess_s_kdtree"]
            r["transition_cycles_kdtree"] = pre / gain if gain > 0 else float("inf")
    summary.update(recall)
    result = {
        "benchmark": "asal_time",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "shared_machine": True,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "threads": args.threads,
        "picks": args.picks,
        "ascent_steps": args.steps,
        "generator": f"Generator28 DIM={args.width} (untrained: timing only)",
        "classifier": "alkit lenet (untrained: timing only)",
        "feature_space": "gray, PCA 50 (fitted on a 50,000-row subsample above 50k)",
        "includes": "selection = ascent + synthetic features + index match; classifier "
        "training excluded; pool held in memory as uint8 (no disk I/O)",
        "wall_minutes": (time.perf_counter() - t_begin) / 60,
        "summary": summary,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(summary, indent=2, default=float))
    return result


if __name__ == "__main__":
    main()
