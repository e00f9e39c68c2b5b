"""How many CPU threads torch may use, chosen on purpose instead of torch's default.

torch starts one intra-op thread per core it sees on the host. On a shared laptop, a Binder
container (whose CPU quota is far below the host's core count) or a machine where other jobs are
busy, those threads fight for the same cores and a training cell can slow down tenfold.
:func:`configure_threads` sets the count from, in this order: the argument, ``ALKIT_THREADS``,
``OMP_NUM_THREADS``, and finally the CPUs this process may run on (its affinity mask, capped by a
cgroup CPU quota such as Binder's) — in notebooks (``load_aware=True``) less those other
processes keep busy. It sets the other pools of the process (OpenMP, BLAS, numba) to the same
count.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from alkit.errors import AlkitError, check_positive_int

#: cgroup v2 (``cpu.max``) and v1 (``cpu.cfs_quota_us``/``cpu.cfs_period_us``) quota files.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _env_threads(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise AlkitError(f"{name} must be a positive integer, got {value!r}") from None
    if n < 1:
        raise AlkitError(f"{name} must be a positive integer (≥ 1), got {n}")
    return n


def cgroup_cpu_limit(root: str | os.PathLike = CGROUP_ROOT) -> int | None:
    """The CPU quota of this process's cgroup rounded up to whole CPUs, or None if unlimited.

    Reads ``cpu.max`` (cgroup v2: ``"<quota> <period>"`` or ``"max <period>"``) or, failing
    that, ``cpu/cpu.cfs_quota_us`` and ``cpu/cpu.cfs_period_us`` (cgroup v1, quota −1 = none).
    """
    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else max(1, math.ceil(quota / period))


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask (``os.sched_getaffinity``, else
    ``os.cpu_count()``), capped by the cgroup CPU quota when there is one."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        n = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    return max(1, min(n, limit) if limit else n)


def idle_cpus(cpus: int | None = None) -> int:
    """CPUs not busy with other work: :func:`available_cpus` minus the 1-minute load average
    rounded to whole CPUs (at least 1; all of them where the OS has no load average)."""
    cpus = available_cpus() if cpus is None else cpus
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return cpus
    return max(1, cpus - math.floor(load + 0.5))


def choose_threads(n: int | None = None, load_aware: bool = False) -> int:
    """The thread count :func:`configure_threads` would set (see the module docstring);
    ``load_aware``: without an argument or variable, :func:`idle_cpus` rather than all."""
    if n is not None:
        return check_positive_int("threads", n)
    for name in ("ALKIT_THREADS", "OMP_NUM_THREADS"):
        value = _env_threads(name)
        if value is not None:
            return value
    return idle_cpus() if load_aware else available_cpus()


#: environment variables read by thread pools when their library starts (OpenMP, BLAS, numba)
POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "NUMBA_NUM_THREADS")  # fmt: skip


def configure_threads(n: int | None = None, load_aware: bool = False) -> int:
    """Set every CPU thread pool of this process to one count, deliberately; return it.

    ``n`` wins; else ``ALKIT_THREADS``; else ``OMP_NUM_THREADS``; else the CPUs the process may
    use (:func:`available_cpus`), or with ``load_aware=True`` those of them other processes
    leave idle (:func:`idle_cpus`: the notebooks' choice, because a pool thread that must share
    its core is far slower than no thread at all — lecture mode of notebook 00 took 229 s with
    two torch threads and 29 s with one while another job kept one of the two cores busy).
    Call it once at the top of a notebook or script. The command line does not adapt to the
    load, so that a run's thread count, and its floating-point sums, do not depend on it.

    torch is not the only pool: scikit-learn's OpenMP and BLAS and UMAP's numba start their
    own, one thread per core, and on a busy machine their spinning threads slow torch down
    (measured in notebook 04: a training cell after a UMAP projection took 276 s instead of
    4 s with only torch limited). So this sets torch's intra-op threads, limits the OpenMP and
    BLAS pools already loaded (``threadpoolctl``) and numba's if it is loaded, and sets
    :data:`POOL_VARIABLES` that are unset, for the libraries that start later.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = choose_threads(n, load_aware)
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)
    for name in POOL_VARIABLES:
        os.environ.setdefault(name, str(threads))
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return threads
