"""How long a dashboard redraw takes on digits, against recomputing the 2-D map every redraw.

StrategyExplorer keeps the pool map of a run (alkit.viz.project_2d, cached), so a round-slider
redraw only swaps trace data. The naive alternative projects the embeddings again each time.
Prints a table and writes benchmarks/results/widget_redraw.json.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ALKIT_PROGRESS", "0")

from alkit.viz import embedding, frames, widgets  # noqa: E402

ROUNDS = 5
REPEATS = 10


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    rows = []
    t0 = time.perf_counter()
    explorer = widgets.StrategyExplorer(
        datasets=("digits",),
        strategies=("entropy",),
        batch_sizes=(10,),
        rounds=ROUNDS,
        projection="umap",
    )
    rows.append(
        ("StrategyExplorer: record 5 rounds + UMAP map (first setting)", time.perf_counter() - t0)
    )
    run = explorer.run

    def move(r):
        explorer.round.value = r

    cached = [_timed(lambda r=r: move(r)) for _ in range(REPEATS) for r in (ROUNDS, 1)]
    rows.append(("StrategyExplorer: round-slider redraw (cached map)", statistics.median(cached)))

    from alkit.data import build_splits, load_dataset

    # the naive redraw projects pixels (N x 64) again; the explorer's map came from embeddings
    X = build_splits(load_dataset("digits"), seed=0).X_pool.reshape(len(run.y_pool), -1)

    def naive(method):
        embedding._CACHE.clear()
        embedding.project_2d(X, method=method)
        frames.explorer_frame(run, 1)

    rows.append(
        (
            "naive redraw: recompute PCA map",
            statistics.median(_timed(lambda: naive("pca")) for _ in range(3)),
        )
    )
    rows.append(("naive redraw: recompute UMAP map", _timed(lambda: naive("umap"))))

    from alkit.loop import ExperimentConfig, run_experiment
    from alkit.train import TrainConfig

    with tempfile.TemporaryDirectory() as out:
        config = ExperimentConfig(
            dataset="digits",
            train=TrainConfig(epochs=5, min_steps=50),
            initial=20,
            query=10,
            rounds=ROUNDS,
            seeds=(0, 1),
            strategies=("random", "entropy"),
            device="cpu",
        )
        run_experiment(config, out=out, progress=False)
        player = widgets.RunPlayer(out)

        def step(r):
            player.round.value = r

        times = [_timed(lambda r=r: step(r)) for _ in range(3) for r in (ROUNDS, 1)]
        rows.append(
            (
                "RunPlayer: round-slider redraw (curves, confusion, picks grid)",
                statistics.median(times),
            )
        )

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  seconds")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:8.4f}")
    print(f"peak resident memory: {peak_mb:.0f} MiB (2 shared CPU cores; timings are noisy)")
    out = Path(__file__).parent / "results" / "widget_redraw.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seconds": dict(rows), "peak_rss_mib": round(peak_mb)}, indent=2))


if __name__ == "__main__":
    main()
