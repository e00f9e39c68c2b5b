"""Wall time of whole notebooks in each size (ALKIT_MODE=smoke|lecture|full), as a teacher runs
them: ``jupyter nbconvert --to notebook --execute`` in a fresh folder, with a fresh artifact cache
(a first run: nothing from an earlier run is reused) and the notebook's own thread choice
(ALKIT_THREADS unset).

    python benchmarks/notebook_modes.py --modes smoke lecture --notebooks 00_quickstart 03_gmm

Each (notebook, mode) is run once, one at a time, and merged into
benchmarks/results/notebook_modes.json (written atomically), with the load average before and
after: the machine may be shared, so compare times taken under a similar load. The executed
notebooks are kept under ``--keep`` for reading their numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "benchmarks" / "results" / "notebook_modes.json"
#: Longest a single notebook may run here before it is stopped and recorded as too long.
LIMIT_S = 1200
#: Full mode is run with ``--limit-s`` (a stopped run's time is a lower bound); these two take
#: far longer than a session here and are recorded as not measured, with the reason.
FULL_NOT_MEASURED = {
    "02_fisher_kernel": "3 seeds x 10 rounds x 7 strategies on a 10k pool, two imbalances: "
    "30 min or more",
    "03_gmm": "3 seeds x 6 runs x 6 cycles on a 10k pool with Reg+DA training: over an hour",
}


def jupyter() -> str:
    here = Path(sys.executable).parent / "jupyter"
    return str(here) if here.exists() else "jupyter"


def run_notebook(
    name: str, mode: str, keep: Path, threads: int | None = None, limit_s: int = LIMIT_S
) -> dict:
    """Execute notebooks/<name>.ipynb in ``mode`` in a fresh folder; return its record.
    ``threads`` sets ALKIT_THREADS (None: the notebook's own choice); a run over ``limit_s``
    seconds is stopped and recorded as not finished (its time is then a lower bound)."""
    src = NOTEBOOKS / f"{name}.ipynb"
    work = Path(tempfile.mkdtemp(prefix=f"nbmode-{name}-{mode}-"))
    shutil.copy(src, work / src.name)
    env = {k: v for k, v in os.environ.items() if k not in ("ALKIT_SMOKE", "ALKIT_THREADS")}
    env.update(
        ALKIT_MODE=mode,
        ALKIT_PROGRESS="0",
        ALKIT_CACHE=str(work / "cache"),
        PYTHONPATH=str(ROOT),  # the kernel imports alkit from this checkout
    )
    if threads is not None:
        env["ALKIT_THREADS"] = str(threads)
    env.pop("MPLBACKEND", None)
    out_dir = keep / (mode if threads is None else f"{mode}-threads{threads}")
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        jupyter(),
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        f"--output-dir={out_dir}",
        f"--ExecutePreprocessor.timeout={limit_s}",
        str(work / src.name),
    ]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=work, env=env, capture_output=True, text=True, timeout=limit_s
        )
        ok, tail = proc.returncode == 0, proc.stderr[-600:]
    except subprocess.TimeoutExpired:
        ok, tail = False, f"stopped after {limit_s} s: longer than that"
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)
    record = {
        "wall_s": round(wall, 1),
        "ok": ok,
        "loadavg_1min_before": round(load_before[0], 2),
        "loadavg_1min_after": round(load_after[0], 2),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "artifact_cache": "fresh (first run)",
        "alkit_threads": threads if threads is not None else "unset (the notebook's choice)",
    }
    if not ok:
        record["error_tail"] = tail
    return record


def write_atomically(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modes", nargs="+", default=["smoke", "lecture"], choices=["smoke", "lecture", "full"]
    )
    parser.add_argument(
        "--notebooks", nargs="+", default=sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    )
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "nbmodes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="set ALKIT_THREADS (default: unset, the notebook's own choice)",
    )
    parser.add_argument(
        "--limit-s", type=int, default=LIMIT_S, help="stop a notebook after this many seconds"
    )
    args = parser.parse_args()
    for name in args.notebooks:
        for mode in args.modes:
            record = run_notebook(name, mode, args.keep, args.threads, args.limit_s)
            key = mode if args.threads is None else f"{mode}, ALKIT_THREADS={args.threads}"
            print(
                f"{name:<24} {key:<8} {record['wall_s']:>7.1f} s  ok={record['ok']}  "
                f"load {record['loadavg_1min_before']}→{record['loadavg_1min_after']}",
                flush=True,
            )
            data = json.loads(args.out.read_text()) if args.out.exists() else {}
            data.setdefault("machine", {}).update(
                cpus=os.cpu_count(),
                note="2-core machine shared with other jobs (load average recorded per run); "
                "ALKIT_THREADS unset unless the key says otherwise: each notebook picks its "
                "own count, the idle CPUs (configure_threads(load_aware=True)) in entries "
                "from 2026-11-22 on, both CPUs before",
            )
            data.setdefault("notebooks", {}).setdefault(name, {})[key] = record
            for nb, why in FULL_NOT_MEASURED.items():
                entry = data["notebooks"].setdefault(nb, {})
                if "wall_s" not in entry.get("full", {}):
                    entry["full"] = {"measured": False, "reason": why}
            write_atomically(args.out, data)


if __name__ == "__main__":
    main()
