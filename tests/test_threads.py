"""alkit.threads: torch's thread count comes from the argument, ALKIT_THREADS, OMP_NUM_THREADS or
the CPUs the process may use, in that order."""

from __future__ import annotations

import os

import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from alkit import threads
from alkit.errors import AlkitError


@pytest.fixture(autouse=True)
def _restore_thread_pools():
    """configure_threads changes process-wide state: put torch, the OpenMP/BLAS pools and the
    pool variables back as they were."""
    before = torch.get_num_threads()
    pools = threadpool_info()
    env = {name: os.environ.get(name) for name in threads.POOL_VARIABLES}
    yield
    torch.set_num_threads(before)
    for pool in pools:
        threadpool_limits(limits={pool["prefix"]: pool["num_threads"]})
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_argument_then_alkit_threads_then_omp(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("ALKIT_THREADS", "2")
    assert threads.configure_threads(3) == 3 and torch.get_num_threads() == 3
    assert threads.configure_threads() == 2 and torch.get_num_threads() == 2
    monkeypatch.delenv("ALKIT_THREADS")
    assert threads.configure_threads() == 1 and torch.get_num_threads() == 1


def test_default_is_the_affinity_mask(monkeypatch):
    monkeypatch.delenv("ALKIT_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda root=None: None)
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert threads.configure_threads() == expected == torch.get_num_threads()
    # a cgroup quota below the mask (Binder: 1 CPU on a many-core host) caps the count
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda root=None: 1)
    assert threads.available_cpus() == 1


def test_cgroup_quota_files(tmp_path):
    assert threads.cgroup_cpu_limit(tmp_path) is None  # no files: no limit
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 2  # 1.5 CPUs round up
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.cgroup_cpu_limit(tmp_path) is None


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_settings_name_the_variable(monkeypatch, value):
    monkeypatch.setenv("ALKIT_THREADS", value)
    with pytest.raises(AlkitError, match="ALKIT_THREADS must be a positive integer"):
        threads.configure_threads()
    with pytest.raises(AlkitError, match="threads must be a positive integer"):
        threads.configure_threads(0)


def test_cli_threads_flag_sets_torch_and_rejects_zero(capsys, monkeypatch):
    from alkit.cli import main

    monkeypatch.delenv("ALKIT_THREADS", raising=False)
    torch.set_num_threads(2)
    assert main(["bench", "--threads", "1", "--print-config"]) == 0
    assert torch.get_num_threads() == 1
    assert main(["bench", "--threads", "0", "--print-config"]) == 2
    assert "--threads must be an integer ≥ 1, got 0" in capsys.readouterr().err


def test_every_thread_pool_gets_the_count(monkeypatch):
    """OpenMP/BLAS pools already loaded are limited, numba too, and the variables read by
    libraries that start later are set where the user left them unset."""
    import numba

    for name in threads.POOL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    numba_before = numba.get_num_threads()
    try:
        assert threads.configure_threads(1) == 1
        assert torch.get_num_threads() == 1
        info = threadpool_info()
        assert info and all(pool["num_threads"] == 1 for pool in info), info
        assert numba.get_num_threads() == 1
        assert all(os.environ[name] == "1" for name in threads.POOL_VARIABLES)
        monkeypatch.setenv("MKL_NUM_THREADS", "4")  # a user's own setting is kept
        threads.configure_threads(1)
        assert os.environ["MKL_NUM_THREADS"] == "4"
    finally:
        numba.set_num_threads(numba_before)


@pytest.mark.parametrize(("load", "expected"), [(0.3, 2), (0.6, 1), (1.4, 1), (7.0, 1)])
def test_load_aware_count_leaves_busy_cpus_alone(monkeypatch, load, expected):
    monkeypatch.delenv("ALKIT_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (load, load, load))
    assert threads.idle_cpus() == expected
    assert threads.choose_threads(load_aware=True) == expected
    assert threads.choose_threads() == 2  # the command line's count does not follow the load
    monkeypatch.setenv("ALKIT_THREADS", "2")  # a stated count wins over the load
    assert threads.choose_threads(load_aware=True) == 2
