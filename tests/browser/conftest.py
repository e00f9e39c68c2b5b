"""The browser test runs only from `make test-browser` (ALKIT_BROWSER_TEST=1): it needs Debian's
chromium and starts a JupyterLab server, which plain `pytest` / `make test` must not depend on."""

import os

if os.environ.get("ALKIT_BROWSER_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]
