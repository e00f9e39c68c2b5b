"""The Binder spec is complete: a fresh virtual environment built from the pip equivalent of
binder/environment.yml, plus binder/postBuild, runs the quickstart notebook in smoke mode with
its own Jupyter, kernel and packages (nothing from the developer's venv or PYTHONPATH).

Run it with ``make test-binder``; its name keeps plain ``pytest`` from collecting it. Build and
run times go to ``build/binder/timing.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from binder_spec import BINDER, ROOT, pip_requirements

NOTEBOOK = Path(os.environ.get("ALKIT_BINDER_NOTEBOOK", ROOT / "notebooks/00_quickstart.ipynb"))
OUT = ROOT / "build/binder"
PIP_INSTALL_S = 1800
NOTEBOOK_S = 600


def _run(cmd, timeout, **kw):
    result = subprocess.run(cmd, timeout=timeout, capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result


@pytest.fixture()
def venv(tmp_path):
    """A path for the fresh environment, removed afterwards (PyPI's torch makes it ~6 GB)."""
    path = tmp_path / "venv"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_quickstart_runs_in_a_fresh_binder_environment(tmp_path, venv):
    assert NOTEBOOK.exists(), f"no notebook at {NOTEBOOK}"
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _run([sys.executable, "-m", "venv", str(venv)], 120)
    bin_dir = venv / "bin"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("JUPYTER")
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        IPYTHONDIR=str(tmp_path / "ipython"),
    )
    _run([bin_dir / "pip", "install", "--quiet", *pip_requirements()], PIP_INSTALL_S, env=env)
    # binder/postBuild runs from the repository root, as repo2docker does
    _run(["bash", BINDER / "postBuild"], 300, env=env, cwd=ROOT)
    built = time.monotonic()

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    env.update(ALKIT_SMOKE="1", ALKIT_PROGRESS="0", MPLBACKEND="Agg")
    probe = _run(
        [bin_dir / "python", "-c", "import alkit, torch, torchvision; print(alkit.__file__)"],
        120,
        env=env,
        cwd=work,
    )
    assert probe.stdout.strip().startswith(str(ROOT)), probe.stdout
    _run(
        [
            bin_dir / "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            f"--ExecutePreprocessor.timeout={NOTEBOOK_S}",
            "--ExecutePreprocessor.kernel_name=python3",
            "--output",
            "executed.ipynb",
            NOTEBOOK.name,
        ],
        NOTEBOOK_S + 60,
        env=env,
        cwd=work,
    )
    executed = json.loads((work / "executed.ipynb").read_text())
    errors = [
        o
        for c in executed["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
    (OUT / "timing.json").write_text(
        json.dumps(
            {
                "environment_build_seconds": round(built - started, 1),
                "notebook_seconds": round(time.monotonic() - built, 1),
            }
        )
    )
