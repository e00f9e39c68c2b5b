# alkit: `make demo` runs the main job, `make test` the whole suite. Both set up what they need:
# a .venv with the package, and Debian's Fashion-MNIST files and fortunes texts when run as root.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.alkit-installed
FASHION_DIR := /usr/share/datasets/fashion-mnist
FORTUNES_DIR := /usr/share/games/fortunes
export DEBIAN_FRONTEND := noninteractive

.PHONY: install data lint test demo lab bench claims claims-quick chromium test-browser test-binder screenshots

# torch and torchvision come together from PyPI (the CUDA builds, which also run on a CPU):
# the local CPU-only torch wheel cannot load torchvision's compiled ops.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch>=2.14" torchvision -e ".[dev,notebooks]"
	@touch $(STAMP)

install: $(STAMP)

data:
	@if [ -d "$(FASHION_DIR)" ] || [ -n "$$ALKIT_DATA" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	else \
	  echo "note: Fashion-MNIST is missing; as root: apt-get install dataset-fashion-mnist"; \
	fi
	@if [ -f "$(FORTUNES_DIR)/computers" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq fortunes >/dev/null; \
	else \
	  echo "note: the fortunes texts are missing; as root: apt-get install fortunes"; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install data lint
	$(PY) -m pytest -q

demo: install data
	$(VENV)/bin/alkit bench --out runs/demo

# The papers' headline claims under named protocols: CLAIMS.md and claims.json (hours on a CPU;
# claims-quick is a smoke run in under a minute).
claims: install data
	$(VENV)/bin/alkit claims --report-dir .

claims-quick: install
	$(VENV)/bin/alkit claims --quick

lab: install data
	$(VENV)/bin/jupyter lab notebooks/00_quickstart.ipynb

bench: install data
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Debian's chromium for the browser test (installed when root; Playwright never downloads one).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "the browser test needs Debian's chromium: as root, apt-get install chromium"; exit 1; \
	fi

# JupyterLab on loopback + headless chromium: runs the quickstart and moves its widgets.
# Screenshots go to build/browser/.
test-browser: install data chromium
	$(PY) -m pip install --quiet -e ".[browser]"
	$(PY) -m pytest -q tests/browser/browser_jupyterlab.py

screenshots: install data chromium
	$(PY) -m pip install --quiet -e ".[browser]"
	$(PY) tests/browser/screenshots.py

# A fresh venv from the pip equivalent of binder/environment.yml (+ binder/postBuild) runs the
# quickstart in smoke mode: shows that the Binder spec is complete. Times: build/binder/.
test-binder: install data
	$(PY) -m pytest -q tests/binder/binder_quickstart.py
