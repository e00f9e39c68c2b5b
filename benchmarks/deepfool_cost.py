"""Cost of DFAL's batched DeepFool and BalNet's KFAC traces (Ducoffe thesis ch. 4–5, spec §2.3,
§3.3), each against the naive method, on Fashion-MNIST with LeNet.

A LeNet is trained once on ``--n-train`` Fashion-MNIST images (the parent process), saved, and
every measurement then runs in a fresh subprocess so that its peak RSS (``ru_maxrss``) is its
own:

* ``deepfool_batched``: DeepFool (L2, overshoot 0.02, ≤ 10 iterations) on ``--candidates`` pool
  images in one batched call: wall time, flip rate, mean/max iterations (thesis: < 3), the norm
  quantiles and coefficient of variation (the Fig. 4.8 spread);
* ``deepfool_loop`` vs ``deepfool_batched_same``: the same ``--loop-rows`` rows one at a time
  (per-sample loop) and batched; the ratio of the two is the batching gain;
* ``kfac_traces`` vs ``kfac_materialised``: the per-sample traces φ and t of ``--candidates``
  images against the factors of the ``--n-train`` labelled images, by Cholesky quadratic forms
  (alkit) and by materialising every per-sample ``d × d`` factor layer by layer and taking
  ``Tr(ψ_i Ψ⁻¹)`` as the authors' code does (float32, like theirs): time and peak memory.

Usage: ``flock /tmp/alkit-bench.lock python benchmarks/deepfool_cost.py [--quick]``; writes
``benchmarks/results/deepfool_cost.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "deepfool_cost.json"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs`` 5), so that the peak measured after
    it belongs to the measured work, not to loading the data set."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    """Peak RSS since the last reset (``VmHWM``), else since the process started."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup(case: dict):
    """The trained LeNet and the arrays of a case (labelled images and labels, candidates)."""
    import numpy as np
    import torch

    from alkit.data import load_dataset
    from alkit.models import LeNet

    torch.set_num_threads(case["threads"])
    ds = load_dataset("fashion_mnist")
    model = LeNet()
    model.load_state_dict(torch.load(case["weights"], weights_only=True))
    model.eval()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(ds.y_train))
    labeled = order[: case["n_train"]]
    pool = order[case["n_train"] : case["n_train"] + case["candidates"]]
    data = {
        "X_A": ds.X_train[labeled],
        "y_A": ds.y_train[labeled],
        "X_M": ds.X_train[pool],
    }
    del ds
    return model, data


def naive_traces(model, X_A, y_A, X_M, y_M):
    """The authors' method: every per-sample ψ_i, τ_i materialised (``M × d × d`` float32 per
    layer, one layer at a time), then ``Tr(ψ_i Ψ⁻¹)`` by a batched product."""
    import torch

    from alkit.kernels.kfac import kfac_factors, kfac_sample_rows

    factors = kfac_factors(model, X_A, y_A)
    rows = kfac_sample_rows(model, X_M, y_M)
    phi, t = [], []
    for name in list(rows):
        P, G = rows.pop(name)  # each layer's rows are freed once used
        Psi, Tau = factors[name]
        out = []
        for R, F in ((P, Psi), (G, Tau)):
            inv = torch.linalg.inv(F + 1e-3 * torch.trace(F) / len(F) * torch.eye(len(F))).float()
            per_sample = torch.einsum("btd,bte->bde", R, R)  # M × d × d
            out.append(torch.einsum("bij,ji->b", per_sample, inv).double())
            del per_sample
        phi.append(out[0])
        t.append(out[1])
    return torch.stack(phi, 1).numpy(), torch.stack(t, 1).numpy()


def run_case(case: dict) -> dict:
    """One measurement, in this (fresh) process."""
    import gc

    import numpy as np
    import torch

    from alkit.kernels.deepfool import deepfool
    from alkit.kernels.kfac import kfac_blocks, kfac_factors, kfac_sample_traces, kfac_state

    model, data = _setup(case)
    kind = case["kind"]
    X_M = data["X_M"]
    extra = {}
    gc.collect()
    reset = _reset_peak()
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    if kind == "deepfool_batched":
        r = deepfool(model, X_M, progress=False)
        norms = r.norm_B[np.isfinite(r.norm_B)]
        extra = {
            "flip_rate": float(r.flipped_B.mean()),
            "mean_iters": float(r.iters_B.mean()),
            "max_iters": int(r.iters_B.max()),
            "norm_quantiles_0_10_50_90_100": np.quantile(norms, [0, 0.1, 0.5, 0.9, 1]).tolist(),
            "norm_cv": float(norms.std() / norms.mean()),
        }
    elif kind == "deepfool_batched_same":
        r = deepfool(model, X_M[: case["loop_rows"]], progress=False)
        extra = {"iters": r.iters_B.tolist()}
    elif kind == "deepfool_loop":
        iters = [int(deepfool(model, X_M[i : i + 1]).iters_B[0]) for i in range(case["loop_rows"])]
        extra = {"iters": iters}
    elif kind in ("kfac_traces", "kfac_materialised"):
        X_A, y_A = data["X_A"], data["y_A"]
        with torch.no_grad():
            y_M = model(torch.as_tensor(X_M)).argmax(1).numpy()
        if kind == "kfac_traces":
            blocks = kfac_blocks(model)
            state = kfac_state(kfac_factors(model, X_A, y_A), blocks, len(X_A), 1e-3)
            phi, t = kfac_sample_traces(model, X_M, state, y=y_M)
        else:
            phi, t = naive_traces(model, X_A, y_A, X_M, y_M)
        extra = {"phi_head": phi[:20].tolist(), "t_head": t[:20].tolist()}
    else:
        raise ValueError(kind)
    seconds = time.perf_counter() - t0
    peak = _peak_mb()
    return {
        **case,
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        "peak_over_before_mb": peak - rss_before,
        "peak_reset_after_setup": reset,
        **extra,
    }


def spawn(case: dict, timeout: float) -> dict:
    env = dict(
        os.environ, PYTHONPATH=str(ROOT), ALKIT_PROGRESS="0", OMP_NUM_THREADS=str(case["threads"])
    )
    cmd = [sys.executable, __file__, "--case", json.dumps(case)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**case, "skipped": f"timed out after {timeout:.0f} s"}
    if res.returncode != 0:
        return {**case, "skipped": f"failed: {res.stderr.strip().splitlines()[-3:]}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def train_lenet(n_train: int, epochs: int, weights: str, threads: int) -> dict:
    """Train the benchmark's LeNet on ``n_train`` images; save its weights; report accuracy."""
    import numpy as np
    import torch

    from alkit.data import load_dataset
    from alkit.models import LeNet
    from alkit.train import Learner, TrainConfig, seed_everything

    torch.set_num_threads(threads)
    ds = load_dataset("fashion_mnist")
    labeled = np.random.default_rng(0).permutation(len(ds.y_train))[:n_train]
    seed_everything(0)
    learner = Learner(
        LeNet(), TrainConfig(epochs=epochs, min_steps=0), device="cpu", seed=0, progress=False
    )
    t0 = time.perf_counter()
    learner.fit(ds.X_train[labeled], ds.y_train[labeled])
    seconds = time.perf_counter() - t0
    torch.save(learner.model.state_dict(), weights)
    acc = float((learner.predict(ds.X_test[:2000]) == ds.y_test[:2000]).mean())
    return {"n_train": n_train, "epochs": epochs, "train_seconds": seconds, "test_accuracy": acc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--loop-rows", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    if args.quick:
        args.n_train, args.epochs, args.candidates, args.loop_rows = 300, 3, 200, 20
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        weights = str(Path(tmp) / "lenet.pt")
        model_info = train_lenet(args.n_train, args.epochs, weights, args.threads)
        base = {
            "weights": weights,
            "threads": args.threads,
            "n_train": args.n_train,
            "candidates": args.candidates,
            "loop_rows": args.loop_rows,
        }
        kinds = [
            "deepfool_batched",
            "deepfool_batched_same",
            "deepfool_loop",
            "kfac_traces",
            "kfac_materialised",
        ]
        rows = {k: spawn({**base, "kind": k}, args.timeout) for k in kinds}
    for r in rows.values():
        r.pop("weights", None)
    summary = {}
    if "seconds" in rows["deepfool_loop"] and "seconds" in rows["deepfool_batched_same"]:
        summary["deepfool_loop_over_batched"] = (
            rows["deepfool_loop"]["seconds"] / rows["deepfool_batched_same"]["seconds"]
        )
        summary["deepfool_loop_iters_equal_batched"] = (
            rows["deepfool_loop"]["iters"] == rows["deepfool_batched_same"]["iters"]
        )
    if "seconds" in rows["kfac_traces"] and "seconds" in rows["kfac_materialised"]:
        import numpy as np

        a, b = rows["kfac_traces"], rows["kfac_materialised"]
        summary["kfac_materialised_over_traces_time"] = b["seconds"] / a["seconds"]
        summary["kfac_materialised_over_traces_peak_mb"] = b["peak_over_before_mb"] / max(
            a["peak_over_before_mb"], 1.0
        )
        summary["kfac_phi_max_rel_diff"] = float(
            np.max(np.abs(np.array(a["phi_head"]) - b["phi_head"]) / np.abs(b["phi_head"]))
        )
    result = {
        "benchmark": "deepfool_cost",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "shared_machine": True,
        "load_average_at_start": load,
        "threads": args.threads,
        "model": model_info,
        "summary": summary,
        "rows": list(rows.values()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"LeNet on {args.n_train} images: test accuracy {model_info['test_accuracy']:.3f}")
    for r in rows.values():
        if "seconds" in r:
            print(
                f"{r['kind']:24s} {r['seconds']:8.2f} s  peak +{r['peak_over_before_mb']:7.1f} MB"
            )
        else:
            print(f"{r['kind']:24s} skipped: {r['skipped']}")
    d = rows["deepfool_batched"]
    if "flip_rate" in d:
        print(
            f"DeepFool: flip rate {d['flip_rate']:.3f}, mean iterations {d['mean_iters']:.2f} "
            f"(max {d['max_iters']}), norm CV {d['norm_cv']:.2f}"
        )
    for k, v in summary.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
