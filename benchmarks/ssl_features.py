"""Fashion-MNIST self-supervised features vs raw pixels and PCA, and the artifact cache's value.

For each feature set (raw pixels, PCA-64 plain and whitened, SimCLR, SimSiam) on a Fashion-MNIST
pool (``--pool-size`` of the 60k training images, split seed 0) and the 10k test images:

- kNN (k = 20, cosine) and linear-probe accuracy on the test set, two protocols:
  ``reference`` (classifiers fit on the pool's features and labels, as SSL papers report) and
  ``test-cv`` (5-fold cross-validation within the test set: the labels of the test set only);
- the build time of each artifact (CPU time and wall time, the machine being shared), the time
  of a cache hit (a second ``build_artifact`` call) and the payload size.

SSL training runs on the CPU budget given by the options (``--epochs``, ``--width``): the issue's
full recipe (hundreds of epochs on a GPU) is out of reach here. The cache lives in a temporary
``ALKIT_CACHE`` unless ``--keep-cache``. Results are written after every feature set, so a cut
run still leaves its numbers in the JSON.

    flock /tmp/alkit-bench.lock env OMP_NUM_THREADS=1 PYTHONPATH=. \\
        python benchmarks/ssl_features.py [--pool-size 20000 --epochs 10 --width 32]
    (then ``--methods simsiam --append`` in a second run, so neither holds the lock too long)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from alkit.artifacts import build_artifact, encode
from alkit.data import build_splits, load_dataset
from alkit.ssl import feature_quality

RESULTS = Path(__file__).parent / "results"


def quality(train_feats, y_pool, test_feats, y_test) -> dict:
    t0 = time.process_time()
    ref = feature_quality(test_feats, y_test, features_ref=train_feats, y_ref=y_pool)
    cv = feature_quality(test_feats, y_test, folds=5)
    return {
        "knn20_reference": ref["knn_accuracy"],
        "linear_probe_reference": ref["linear_probe_accuracy"],
        "knn20_test_cv": cv["knn_accuracy"],
        "linear_probe_test_cv": cv["linear_probe_accuracy"],
        "quality_cpu_seconds": round(time.process_time() - t0, 1),
    }


def artifact_row(name, options, splits, data_key) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    art = build_artifact(name, splits.X_pool, data_key=data_key, seed=0, options=options)
    build_wall, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert not art.meta["cache_hit"]
    t0 = time.perf_counter()
    hit = build_artifact(name, splits.X_pool, data_key=data_key, seed=0, options=options)
    hit_wall = time.perf_counter() - t0
    assert hit.meta["cache_hit"]
    np.testing.assert_array_equal(hit.features, art.features)
    test_feats = encode(art, splits.X_test)
    row = {
        "artifact": name,
        "kind": art.kind,
        "options": art.options,
        "dim": int(art.features.shape[1]),
        "build_wall_seconds": round(build_wall, 2),
        "build_cpu_seconds": round(build_cpu, 2),
        "cache_hit_wall_seconds": round(hit_wall, 3),
        "rebuild_over_hit": round(build_wall / hit_wall, 1),
        "payload_mib": round(art.path.stat().st_size / 2**20, 2),
        "losses": [round(v, 4) for v in art.meta.get("losses", [])],
    }
    row.update(quality(art.features, splits.y_pool, test_feats, splits.y_test))
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pool-size", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--simsiam-epochs", type=int, default=10)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--methods", default="pixels,pca,pca_whiten,simclr,simsiam")
    p.add_argument("--keep-cache", action="store_true")
    p.add_argument("--append", action="store_true", help="add rows to an existing JSON")
    p.add_argument("--out", default=str(RESULTS / "ssl_features.json"))
    args = p.parse_args()
    if not args.keep_cache:
        os.environ["ALKIT_CACHE"] = tempfile.mkdtemp(prefix="alkit-ssl-bench-")
    ds = load_dataset("fashion_mnist")
    splits = build_splits(ds, seed=0, pool_size=args.pool_size)
    data_key = {"dataset": "fashion_mnist", "pool_size": args.pool_size}
    ssl = {"width": args.width, "batch_size": 256}
    plans = {
        "pca": ("pca", {"dim": 64, "whiten": False}),
        "pca_whiten": ("pca", {"dim": 64, "whiten": True}),
        "simclr": ("simclr", {**ssl, "epochs": args.epochs}),
        "simsiam": ("simsiam", {**ssl, "epochs": args.simsiam_epochs}),
    }
    out = {
        "setting": {
            "dataset": "fashion_mnist",
            "pool_size": len(splits.X_pool),
            "test_size": len(splits.X_test),
            "split_seed": 0,
            "threads": torch.get_num_threads(),
            "device": "cpu",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared by up to 8 "
            "processes (timings are noisy; CPU seconds are this process's own)",
            "load_average_at_start": os.getloadavg(),
            "protocols": {
                "reference": "kNN / logistic regression fit on the pool's features and labels, "
                "accuracy on the test set",
                "test_cv": "5-fold stratified cross-validation within the test set",
            },
        },
        "rows": [],
    }
    if args.append and Path(args.out).exists():
        previous = json.loads(Path(args.out).read_text())
        out["rows"] = previous["rows"]
        out["setting"]["earlier_runs"] = [*previous["setting"].pop("earlier_runs", []),
                                          previous["setting"]]  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    for method in args.methods.split(","):
        print(f"== {method}", flush=True)
        if method == "pixels":
            flat = splits.X_pool.reshape(len(splits.X_pool), -1)
            row = {"artifact": "pixels", "kind": "raw inputs", "dim": flat.shape[1]}
            row.update(quality(flat, splits.y_pool, splits.X_test.reshape(len(splits.X_test), -1),
                               splits.y_test))  # fmt: skip
        else:
            name, options = plans[method]
            row = artifact_row(name, options, splits, data_key)
        out["rows"].append(row)
        print(json.dumps(row), flush=True)
        out["setting"]["load_average_at_end"] = os.getloadavg()
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
