"""binder/ stays complete: every runtime and notebook dependency of alkit is in the Binder
environment, the Fashion-MNIST files come from apt, and postBuild installs alkit itself.
(`make test-binder` goes further: it builds the environment and runs the quickstart in it.)"""

from __future__ import annotations

import os
import re
import sys

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "binder"))

from binder_spec import (  # noqa: E402
    BINDER,
    ROOT,
    conda_dependencies,
    normalize,
    pip_requirements,
    split_spec,
)


def _pyproject_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["notebooks"]


def test_binder_environment_holds_every_runtime_and_notebook_dependency():
    binder = {normalize(split_spec(r)[0]) for r in pip_requirements()}
    needed = {normalize(re.split(r"[<>=!~;\[ ]", r)[0]) for r in _pyproject_requirements()}
    assert needed - binder == set(), f"missing from binder/environment.yml: {needed - binder}"
    assert "torch>=2.14" in pip_requirements() and "torchvision>=0.16" in pip_requirements()


def test_binder_is_cpu_only_with_fashion_mnist_and_fortunes_from_apt():
    names = [split_spec(d)[0] for d in conda_dependencies()]
    assert "pytorch-cpu" in names and "pytorch" not in names
    assert not [n for n in names if "cuda" in n or "gpu" in n]
    assert (BINDER / "apt.txt").read_text().split() == ["dataset-fashion-mnist", "fortunes"]
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert "pip install --no-deps -e ." in post_build.read_text()


def test_readme_badge_opens_the_quickstart_on_binder():
    readme = (ROOT / "README.md").read_text()
    badge = re.search(r"\(https://mybinder\.org/v2/gh/([^)]+)\)", readme)
    assert badge, "README has no Binder badge"
    assert badge.group(1).endswith("/HEAD?labpath=notebooks%2F00_quickstart.ipynb")
    assert (ROOT / "notebooks/00_quickstart.ipynb").exists()
