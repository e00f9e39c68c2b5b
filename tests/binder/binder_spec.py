"""The Binder environment (binder/environment.yml) and its closest pip equivalent."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"

#: conda-forge names whose PyPI package is called differently; None: not a pip package.
CONDA_TO_PIP = {"pytorch-cpu": "torch", "python": None, "pip": None}
#: PyPI's torch must come with a matching torchvision (the CUDA builds also run on a CPU); a
#: torch-only CPU wheel that a pip config may offer cannot load torchvision's compiled ops, and
#: torchvision >= 0.29 needs torch >= 2.14, so ask for that.
PIP_FLOORS = {"torch": "torch>=2.14"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def conda_dependencies() -> list[str]:
    """The conda specs of binder/environment.yml, e.g. ``["python=3.11", "pytorch-cpu>=2.1"]``."""
    import yaml

    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    return [d for d in env["dependencies"] if isinstance(d, str)]


def split_spec(spec: str) -> tuple[str, str]:
    name = re.match(r"[A-Za-z0-9_.-]+", spec).group(0)
    return name, spec[len(name) :]


def pip_requirements() -> list[str]:
    """The pip equivalent of the conda list: renamed packages, same version bounds."""
    out = []
    for spec in conda_dependencies():
        name, bound = split_spec(spec)
        pip_name = CONDA_TO_PIP.get(name, name)
        if pip_name is None:
            continue
        out.append(PIP_FLOORS.get(pip_name, pip_name + bound))
    return out
