"""Wall time of one claims grid run sequentially vs as Ray tasks on a local 2-worker instance.

The grid is the cells of ``alkit claims --quick`` (every row; ``--set`` changes them, e.g.
``train.epochs=10`` for heavier cells). Both runs start from empty folders; the Ray run's
wall time includes starting Ray (reported apart), and the two runs' rows are checked to be
identical (timing columns aside).

    OMP_NUM_THREADS=1 flock /tmp/alkit-bench.lock python benchmarks/sweep_speed.py

Writes ``benchmarks/results/sweep_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from alkit.claims import get_claims
from alkit.claims.report import experiments_of
from alkit.cli import _key_values
from alkit.sweep import cells_for, collect, run_cells

RESULTS = Path(__file__).parent / "results"
TIMING = ["select_seconds", "train_seconds", "cell"]


def grid(only, overrides) -> list:
    cells = {}
    for claim in get_claims(only):
        for config in experiments_of(claim, True, overrides).values():
            cells.update({c.name: c for c in cells_for(config)})
    return list(cells.values())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", help="claim rows (default: all)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", default=str(RESULTS / "sweep_speed.json"))
    args = p.parse_args(argv)
    cells = grid(args.only, _key_values(args.set, "--set"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        seq = run_cells(cells, Path(tmp) / "sequential", workers=0, quiet=True)
        sequential_s = time.perf_counter() - t0

        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - t0
        try:
            par = run_cells(cells, Path(tmp) / "ray", workers=args.workers, quiet=True)
        finally:
            ray.shutdown()
        ray_s = init_s + par.wall_seconds
        a = collect(Path(tmp) / "sequential", cells).drop(columns=TIMING)
        b = collect(Path(tmp) / "ray", cells).drop(columns=TIMING)
        identical = a.equals(b)
        cell_seconds = sum(seq.seconds.values())
    result = {
        "benchmark": "sweep_speed",
        "grid": f"alkit claims --quick cells ({', '.join(args.only or ['all rows'])})",
        "overrides": args.set,
        "cells": len(cells),
        "sequential_wall_s": round(sequential_s, 1),
        "sequential_sum_of_cell_s": round(cell_seconds, 1),
        "ray_workers": args.workers,
        "ray_init_s": round(init_s, 1),
        "ray_wall_s_including_init": round(ray_s, 1),
        "ray_wall_s_after_init": round(par.wall_seconds, 1),
        "speedup_including_init": round(sequential_s / ray_s, 2),
        "speedup_after_init": round(sequential_s / par.wall_seconds, 2),
        "identical_results": bool(identical),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "note": "2 shared CPU cores (other agents run too): a speed-up is bounded by 2 and by "
        "what the other processes leave; Ray's start-up and per-task worker imports are in "
        "the wall time.",
    }
    print(json.dumps(result, indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
