"""Do the notebooks ever hang headless? Issue 17's count: each notebook run N times in a row.

Each run executes one notebook in smoke mode (``ALKIT_SMOKE=1``, ``ALKIT_THREADS=1``,
``OMP_NUM_THREADS=1``) with the real CLI, ``jupyter nbconvert --to notebook --execute``, from a
fresh scratch folder (the notebook is copied there, so run folders and outputs never touch the
repository and no run resumes another's run folder). The artifact cache (``ALKIT_CACHE``) is the
user's default one, so runs reuse cached tiny artifacts as a user's repeated runs would.

A run that is still going after ``--timeout`` seconds is killed (nbconvert and its kernel) and
counted as a hang; so is a run that nbconvert stops with a cell timeout (``--cell-timeout``), and
one in which a cell ran out the whole cell timeout and then finished (with a finite cell timeout
nbclient reads the stuck reply when its poll gives up, so the race shows as a delay). The cell a
hang sat in and each cell's time come from nbconvert's timestamped debug log ("Executing cell").
A run that exits non-zero for any other reason is a failure, recorded with the error's last
line. Each notebook is also run once with papermill when it is installed. ``--control`` runs a
six-cell ``ipywidgets.interact`` notebook (the pattern that hung) the same way, to show that the
harness sees the hang where it exists.

Results go to benchmarks/results/notebook_hangs.json, rewritten atomically after every run, so a
partial run leaves what finished.

    python benchmarks/notebook_hangs.py                  # 20 runs x every notebook
    python benchmarks/notebook_hangs.py --runs 3 --notebooks 01 03 --merge
    python benchmarks/notebook_hangs.py --notebooks --control --merge --cell-timeout 0 --timeout 60
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "benchmarks" / "results" / "notebook_hangs.json"
BIN = Path(sys.executable).parent
PACKAGES = ("nbconvert", "nbclient", "ipykernel", "ipywidgets", "jupyter_client", "papermill")
#: what nbclient prints when a cell runs past its timeout
CELL_TIMEOUT_MARKERS = ("CellTimeoutError", "Cell execution timed out", "TimeoutError")


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ALKIT_SMOKE="1",
        ALKIT_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        ALKIT_PROGRESS="0",
        PYTHONPATH=str(ROOT),  # the kernel imports alkit from this checkout
    )
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in Jupyter
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the kernel runs in its own session, so killpg misses it)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(proc: subprocess.Popen) -> None:
    for pid in [*descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def code_cells(path: Path) -> list[tuple[int, str]]:
    """(index in the notebook, source) of each cell nbclient executes (code, not empty)."""
    cells = json.loads(path.read_text())["cells"]
    return [
        (i, "".join(c["source"]))
        for i, c in enumerate(cells)
        if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", ln)]
    return (errors or lines or [""])[-1][:300]


def cell_seconds(text: str, end: datetime) -> list[float]:
    """How long each started cell ran, from the timestamped "Executing cell" lines of nbconvert's
    debug log (the last one until "Writing …" or until the run ended)."""
    stamps = [
        datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
        for m in re.finditer(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \S+ Executing cell:", text, re.M)
    ]
    if not stamps:  # papermill's log has no such lines
        return []
    writing = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \S+ Writing ", text, re.M)
    last = datetime.strptime(writing.group(1), "%Y-%m-%d %H:%M:%S") if writing else end
    return [(b - a).total_seconds() for a, b in zip(stamps, [*stamps[1:], last], strict=True)]


def run_once(cmd: list[str], cwd: Path, log: Path, timeout: float, cell_timeout: float, cells):
    """Run ``cmd`` (nbconvert or papermill) under the wall-clock limit and classify the run.

    Hang: killed at ``timeout``, stopped by a cell timeout, or a cell that ran out the whole cell
    timeout and then finished. With a finite timeout nbclient polls the shell socket for the
    cell's reply only that long; when the poll gives up it finds the reply that sat unread and
    the notebook goes on, so the race shows as a wait of exactly the cell timeout, not an error.
    """
    t0 = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL, stderr=err
        )
        try:
            rc, killed = proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            kill_tree(proc)
            rc, killed = proc.returncode, True
    seconds = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    durations = cell_seconds(text, datetime.now().replace(microsecond=0))
    started = len(durations) or text.count("Executing cell:")
    row = {"seconds": round(seconds, 2), "rc": rc}
    if durations:
        row["slowest_cell_s"] = max(durations)
    stalled = [i for i, d in enumerate(durations) if cell_timeout and d >= cell_timeout - 2]
    if not durations and cell_timeout and seconds >= cell_timeout:  # papermill: no cell times
        stalled = [started - 1]
    timed_out = rc != 0 and any(m in text for m in CELL_TIMEOUT_MARKERS)
    if killed or timed_out or stalled:
        row["outcome"] = "hang"
        row["how"] = (
            f"killed after {timeout:.0f} s"
            if killed
            else "nbconvert cell timeout"
            if timed_out
            else f"a cell waited out the whole {cell_timeout:.0f} s cell timeout, then went on"
        )
        at = stalled[0] if stalled else started - 1
        if 0 <= at < len(cells):
            index, source = cells[at]
            row["cell"] = index
            row["cell_head"] = source.strip().splitlines()[0][:120]
        row["log_tail"] = text[-1500:]
    elif rc != 0:
        row["outcome"] = "failure"
        row["error"] = last_line(text)
        row["log_tail"] = text[-1500:]
    else:
        row["outcome"] = "ok"
    return row


def nbconvert_run(path: Path, timeout: float, cell_timeout: float) -> dict:
    """One ``jupyter nbconvert --execute`` run of a copy of ``path`` in a scratch folder;
    ``cell_timeout`` 0 leaves nbclient's default (no per-cell limit), as a user's plain run."""
    cells = code_cells(path)
    with tempfile.TemporaryDirectory(prefix="alkit-nbhang-") as tmp:
        work = Path(tmp)
        shutil.copy(path, work / path.name)
        cmd = [
            str(BIN / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output-dir",
            str(work / "out"),
            *([f"--ExecutePreprocessor.timeout={cell_timeout:.0f}"] if cell_timeout else []),
            "--log-level=DEBUG",  # nbclient then logs each cell it starts
            "--Application.log_format=%(asctime)s [%(name)s] %(message)s",
            path.name,
        ]
        return run_once(cmd, work, work / "stderr.log", timeout, cell_timeout, cells)


def papermill_run(path: Path, timeout: float, cell_timeout: float) -> dict:
    cells = code_cells(path)
    with tempfile.TemporaryDirectory(prefix="alkit-nbhang-pm-") as tmp:
        work = Path(tmp)
        shutil.copy(path, work / path.name)
        cmd = [
            str(BIN / "papermill"),
            path.name,
            str(work / "out.ipynb"),
            *(["--execution-timeout", f"{cell_timeout:.0f}"] if cell_timeout else []),
            "--log-level",
            "DEBUG",
            "--no-progress-bar",
            "--kernel",
            "python3",
        ]
        row = run_once(cmd, work, work / "stderr.log", timeout, cell_timeout, cells)
        if row["outcome"] == "hang":  # papermill logs "Executing Cell N" (1-based, all cells)
            text = (work / "stderr.log").read_text(errors="replace")
            numbers = re.findall(r"Executing Cell (\d+)", text)
            if numbers:
                row["cell"] = int(numbers[-1]) - 1
        return row


def summary(runs: list[dict]) -> dict:
    times = [r["seconds"] for r in runs]
    ok = [r["seconds"] for r in runs if r["outcome"] == "ok"]
    return {
        "runs": len(runs),
        "hangs": sum(r["outcome"] == "hang" for r in runs),
        "failures": sum(r["outcome"] == "failure" for r in runs),
        "seconds_ok": {
            "min": min(ok),
            "median": round(statistics.median(ok), 2),
            "max": max(ok),
        }
        if ok
        else None,
        "seconds_all": times,
        "slowest_cell_max_s": max((r.get("slowest_cell_s", 0) for r in runs), default=None),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["python"] = sys.version.split()[0]
    return out


def git_commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "alkit", "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + ("+uncommitted changes in alkit/ or notebooks/" if dirty else "")


def write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out)


def control_notebook(path: Path) -> Path:
    """The pattern the notebooks no longer use, as a positive control: six ``interact`` cells
    (issue 18's minimal notebook: no alkit, a slider and a pyplot figure each)."""
    import nbformat

    head = "import ipywidgets as widgets\nimport matplotlib.pyplot as plt\nimport numpy as np"
    cell = (
        "def draw(a=1.0):\n"
        "    fig, ax = plt.subplots(figsize=(3, 2))\n"
        "    ax.plot(np.sin(np.linspace(0, 10, 200) * a))\n"
        "    plt.show()\n\n\n"
        "widgets.interact(draw, a=widgets.FloatSlider(min=0.5, max=3.0, value=1.0))"
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(head)] + [
        nbformat.v4.new_code_cell(cell) for _ in "123456"
    ]
    nbformat.write(nb, path)
    return path


def repeat(path: Path, args, report: dict, section: str, name: str, papermill: bool) -> None:
    """``args.runs`` nbconvert runs of ``path`` in a row into ``report[section][name]``, then
    one papermill run; the JSON is rewritten after each run."""
    runs: list[dict] = []
    entry = {
        "git_commit": git_commit(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "timeout_s": args.timeout,
        "cell_timeout_s": args.cell_timeout,
        "loadavg_start": loadavg(),
    }
    if args.runs:  # --runs 0: only the papermill run, the nbconvert counts stay as they are
        report[section][name] = entry
    for i in range(args.runs):
        row = nbconvert_run(path, args.timeout, args.cell_timeout)
        runs.append(row)
        entry.update(summary(runs))
        entry["problems"] = [dict(r, run=j) for j, r in enumerate(runs) if r["outcome"] != "ok"]
        entry["loadavg_end"] = loadavg()
        write(report, args.out)
        print(
            f"{name} run {i + 1}/{args.runs}: {row['outcome']} {row['seconds']:.1f} s"
            + (f" cell {row.get('cell')}" if row["outcome"] == "hang" else "")
            + (f" {row.get('error')}" if row["outcome"] == "failure" else ""),
            flush=True,
        )
    if papermill:
        row = papermill_run(path, args.timeout, args.cell_timeout)
        row["loadavg"] = loadavg()
        row["git_commit"] = entry["git_commit"]
        report["papermill" if section == "notebooks" else "control_papermill"][name] = row
        write(report, args.out)
        print(f"{name} papermill: {row['outcome']} {row['seconds']:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="nbconvert runs per notebook")
    parser.add_argument(
        "--notebooks",
        nargs="*",
        default=None,
        help="notebook name prefixes (e.g. 01 03_gmm; none at all: no notebook); "
        "default: every notebooks/*.ipynb",
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="wall-clock limit per run, seconds"
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=240,
        help="nbclient's per-cell limit (tests/test_notebooks.py uses 240 s); 0: none, "
        "nbconvert's default, so a hang runs into --timeout",
    )
    parser.add_argument("--no-papermill", action="store_true", help="skip the papermill runs")
    parser.add_argument(
        "--control",
        action="store_true",
        help="also run a six-cell ipywidgets.interact notebook (the pattern that hung) the same "
        "way, into 'control': shows that this harness sees the hang when it is there",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep what --out already holds and replace only the notebooks run now",
    )
    args = parser.parse_args(argv)

    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.notebooks is not None:
        paths = [p for p in paths if any(p.name.startswith(n) for n in args.notebooks)]
    has_papermill = (BIN / "papermill").exists() and not args.no_papermill

    previous = json.loads(args.out.read_text()) if args.merge and args.out.exists() else {}
    report = {
        "what": "headless runs of each notebook with `jupyter nbconvert --to notebook --execute` "
        "in smoke mode (issue 17): hangs, failures and run times; one papermill run each",
        "command": "jupyter nbconvert --to notebook --execute --output-dir <scratch> "
        "--ExecutePreprocessor.timeout=<cell_timeout_s> (none where 0) --log-level=DEBUG <copy>",
        "environment": "ALKIT_SMOKE=1 ALKIT_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "
        "ALKIT_PROGRESS=0, MPLBACKEND unset; each run in a fresh scratch folder (its own run "
        "folders); the default ALKIT_CACHE, so cached tiny artifacts are reused across runs",
        "hang_rule": "a run still going after timeout_s is killed (nbconvert and kernel) and "
        "counted as a hang, as is one stopped by the cell timeout (cell_timeout_s) and one with "
        "a cell that ran out the whole cell timeout and then went on: with a finite cell "
        "timeout nbclient finds the unread reply when its poll gives up, so the race costs "
        "exactly the cell timeout instead of failing (each entry records its own limits)",
        "machine": f"{os.cpu_count()} CPU cores, shared with other jobs (other helpers' tests "
        "and benchmarks) during the whole run and not under the bench lock: a hang count, not a "
        "timing claim. Load makes it stricter (issue 18: the interact race hung 24 of 40 runs "
        "under CPU load, 2 of 40 idle). Run times include kernel start and vary with the load.",
        "git_commit": git_commit(),
        "versions": versions(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_start": loadavg(),
        "runs_per_notebook": args.runs,
    }
    # a merge keeps the earlier run's own record; the descriptions are this script's
    descriptive = ("what", "command", "environment", "hang_rule", "machine")
    report |= {
        k: v for k, v in previous.items() if k not in ("notebooks", "papermill", *descriptive)
    }
    report["notebooks"] = dict(previous.get("notebooks", {}))
    report["papermill"] = dict(previous.get("papermill", {}))
    if not has_papermill:
        report["papermill_note"] = "papermill not installed; no papermill runs"
    for path in paths:
        repeat(path, args, report, "notebooks", path.name, has_papermill)
    if args.control:
        report["control_note"] = (
            "positive control, not a notebook of this repository: six cells that each call "
            "ipywidgets.interact on a pyplot figure (issue 18's minimal notebook), run with the "
            "same command, environment and machine; hangs here show the harness detects the race"
        )
        report.setdefault("control", {})
        report.setdefault("control_papermill", {})
        with tempfile.TemporaryDirectory(prefix="alkit-nbhang-control-") as tmp:
            path = control_notebook(Path(tmp) / "control_interact.ipynb")
            repeat(path, args, report, "control", path.name, has_papermill)
    if not previous:
        report["loadavg_end"] = loadavg()
        report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        report["complete"] = True
    write(report, args.out)
    print(f"{'notebook':28} runs hangs failures median_s max_s")
    for name, e in [*report["notebooks"].items(), *report.get("control", {}).items()]:
        s = e.get("seconds_ok") or {}
        print(
            f"{name:28} {e['runs']:4} {e['hangs']:5} {e['failures']:8} "
            f"{s.get('median', float('nan')):8} {s.get('max', float('nan')):5}"
        )


if __name__ == "__main__":
    main()
