"""A real browser in a real JupyterLab: the quickstart notebook runs and its widgets respond.

Starts ``jupyter lab`` headless on 127.0.0.1 (a free port, a random token, ALKIT_MODE=smoke) in a
temporary root holding a copy of the notebook, drives Debian's chromium with Playwright (no
browser download), runs all cells, checks that every widget renders, moves a slider and checks
that the plotly figure's data and the screenshot change. The notebooks with alkit
FigureDashboards (01–03) are opened the same way and their last dashboard's figure must change
when its control moves; the browser console must not report a missing widget model. The
quickstart is also run in lecture mode (the size a teacher shows) and its main figures are saved
as screenshots. Screenshots go to ``ALKIT_BROWSER_OUT``
(default ``build/browser``). Every wait is bounded; the server and its kernels are stopped at the
end whatever happens. Run it with ``make test-browser``; its name keeps plain ``pytest`` (``make
test``) from collecting it, so the suite never needs chromium.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = Path(os.environ.get("ALKIT_BROWSER_NOTEBOOK", ROOT / "notebooks/00_quickstart.ipynb"))
OUT = Path(os.environ.get("ALKIT_BROWSER_OUT", ROOT / "build/browser"))
CHROMIUM = os.environ.get("ALKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 90
RUN_ALL_S = int(os.environ.get("ALKIT_BROWSER_RUN_S", "300"))
#: Run All in lecture mode: the quickstart takes a few minutes on two loaded cores.
LECTURE_RUN_ALL_S = int(os.environ.get("ALKIT_BROWSER_LECTURE_RUN_S", "900"))
#: Lab settings for a quiet, fully rendered notebook: no news pop-up, no cell virtualisation.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
WIDGET_UPDATE_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` on loopback in its own process group, with private config and runtime."""

    def __init__(self, root: Path, home: Path, mode: str = "smoke", progress: str = "0"):
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **{k: v for k, v in os.environ.items() if k != "ALKIT_SMOKE"},  # mode alone decides
            "ALKIT_MODE": mode,
            "ALKIT_PROGRESS": progress,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
        }
        for plugin, values in LAB_SETTINGS.items():
            path = home / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        jupyter = Path(sys.executable).parent / "jupyter"
        self.log = open(home / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(jupyter),
                "lab",
                "--no-browser",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            env=env,
            cwd=root,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log_path = home / "server.log"

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(
            f"JupyterLab did not answer within {SERVER_START_S} s:\n{self.log_path.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        try:
            for kernel in self.api("kernels"):
                self.api(f"kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


@contextlib.contextmanager
def lab_with(notebook: Path, tmp_path: Path, mode: str = "smoke", progress: str | None = None):
    """JupyterLab serving a copy of ``notebook`` (on the python3 kernel) from ``tmp_path``, its
    kernels started with ``ALKIT_MODE=mode`` and ``ALKIT_PROGRESS=progress`` (default
    ``ALKIT_BROWSER_PROGRESS`` or 0: no progress bars)."""
    if progress is None:
        progress = os.environ.get("ALKIT_BROWSER_PROGRESS", "0")
    if not notebook.exists():
        pytest.fail(f"no notebook at {notebook}")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: as root, apt-get install chromium")
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.read(notebook, as_version=4)
    # open on the server's python3 kernel without the kernel-picker dialog
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / notebook.name)
    server = LabServer(root, tmp_path, mode, progress)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture()
def lab(tmp_path):
    with lab_with(NOTEBOOK, tmp_path) as server:
        yield server


def _plot_data(page) -> list:
    """The x/y arrays of every trace of every plotly figure on the page (plotly.js's gd.data)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(
            gd => (gd.data || []).map(t => [Array.from(t.x || []), Array.from(t.y || [])]))"""
    )


#: True once an element holds images and all of them have loaded (RunPlayer's picks grid).
IMAGES_LOADED = """el => { const imgs = Array.from(el.querySelectorAll('img'));
    return imgs.length > 0 && imgs.every(img => img.complete && img.naturalWidth > 0); }"""
IMAGE_SIZES = """el => Array.from(el.querySelectorAll('img')).map(
    img => [img.naturalWidth, img.naturalHeight])"""


def _missing_models(page) -> list[str]:
    """Browser console messages that name a widget model the page cannot find (issue 16)."""
    return [t for _, t in page.alkit_console if "model not found" in t.lower()]


def _wait_for(predicate, timeout_s: float, what: str, page) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(500)
    page.screenshot(path=str(OUT / "timeout.png"), full_page=True)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@contextlib.contextmanager
def browser_page(lab, notebook: Path, run_all_s: int = RUN_ALL_S):
    """Chromium on the lab's copy of ``notebook``, after Run All Cells finished without errors.
    Every browser console message is kept in ``page.alkit_console`` as ``(type, text)``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(Path(lab.log_path).parent / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(60_000)
            page.alkit_console = []
            page.on("console", lambda m: page.alkit_console.append((m.type, m.text)))
            page.goto(f"{lab.url}/lab/tree/{notebook.name}?token={lab.token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            # the kernel is connected once the status bar reads "<kernel name> | Idle"
            page.wait_for_selector(".jp-StatusBar-Widget:has-text('| Idle')", timeout=90_000)
            page.screenshot(path=str(OUT / f"{notebook.stem}_opened.png"))

            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            nb = nbformat.read(notebook, as_version=4)
            n_code = sum(c.cell_type == "code" for c in nb.cells)

            def all_ran() -> bool:
                prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
                done = [t for t in prompts if t.strip() not in ("", "[ ]:", "[*]:")]
                return len(done) == n_code

            _wait_for(all_ran, run_all_s, f"all {n_code} code cells to run", page)
            errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, errors.all_inner_texts()
            yield page
        finally:
            context.close()


def test_quickstart_widgets_render_and_respond(lab):
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with browser_page(lab, NOTEBOOK) as page:
        _wait_for(lambda: page.locator(".js-plotly-plot").count() > 0, 60, "a plotly figure", page)
        body = page.inner_text("body")
        assert "Error displaying widget" not in body
        assert "model not found" not in body.lower()
        assert not _missing_models(page), _missing_models(page)
        assert page.locator(".jupyter-widgets").count() > 0
        sliders = page.locator(".widget-slider")
        assert sliders.count() > 0, f"{NOTEBOOK.name} shows no widget slider to move"
        slider = sliders.last
        slider.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        output = slider.locator(
            "xpath=ancestor::div[contains(@class,'jp-OutputArea-output')]"
        ).first
        output.screenshot(path=str(OUT / "02_widget_before.png"))
        before_png = (OUT / "02_widget_before.png").read_bytes()
        before = _plot_data(page)
        sizes_before = page.evaluate(IMAGE_SIZES, output.element_handle())
        readout = slider.locator(".widget-readout")
        value_before = readout.inner_text()

        handle = slider.locator(".noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        _wait_for(lambda: readout.inner_text() != value_before, 10, "the slider to move", page)
        _wait_for(
            lambda: _plot_data(page) != before,
            WIDGET_UPDATE_S,
            "the figure to change after moving the slider",
            page,
        )
        _wait_for(
            lambda: page.evaluate(IMAGES_LOADED, output.element_handle()),
            WIDGET_UPDATE_S,
            "the widget's images to load",
            page,
        )
        # the same number of picks is drawn as a grid of the same size in every round
        assert page.evaluate(IMAGE_SIZES, output.element_handle()) == sizes_before
        page.wait_for_timeout(1000)
        output.screenshot(path=str(OUT / "03_widget_after.png"))
        assert (OUT / "03_widget_after.png").read_bytes() != before_png
        page.screenshot(path=str(OUT / "04_notebook.png"), full_page=True)
    timing = OUT / "timing.json"
    times = json.loads(timing.read_text()) if timing.exists() else {}
    times["browser_seconds"] = round(time.monotonic() - started, 1)
    timing.write_text(json.dumps(times, indent=1))


#: Notebooks whose dashboards are alkit FigureDashboards (a matplotlib PNG in an Output widget).
DASHBOARD_NOTEBOOKS = ("01_baselines.ipynb", "02_fisher_kernel.ipynb", "03_gmm.ipynb")
#: The src of every image inside an element (a dashboard's figure is a data: URL).
IMAGE_SRCS = "el => Array.from(el.querySelectorAll('img')).map(img => img.src)"


@pytest.mark.parametrize("name", DASHBOARD_NOTEBOOKS)
def test_dashboard_notebooks_render_and_respond(name, tmp_path):
    """Each notebook's last dashboard: its first figure is shown, moving its last slider (or
    changing its last dropdown) redraws the figure in place; screenshots of the main figure
    before and after go to OUT."""
    notebook = ROOT / "notebooks" / name
    OUT.mkdir(parents=True, exist_ok=True)
    stem = notebook.stem
    started = time.monotonic()
    with lab_with(notebook, tmp_path) as lab, browser_page(lab, notebook) as page:
        body = page.inner_text("body")
        assert "Error displaying widget" not in body
        assert "model not found" not in body.lower()
        assert not _missing_models(page), _missing_models(page)
        # a window taller than the tallest dashboard: JupyterLab scrolls inside its panel, so
        # an element screenshot of a taller figure would be cut by the menus and status bar
        page.set_viewport_size({"width": 1400, "height": 3000})
        boxes = page.locator(".jp-OutputArea-output:has(.widget-vbox):has(img)")
        assert boxes.count() > 0, f"{name} shows no dashboard with a figure"
        box = boxes.last
        box.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        _wait_for(
            lambda: page.evaluate(IMAGES_LOADED, box.element_handle()), 60, "the figure", page
        )
        box.screenshot(path=str(OUT / f"{stem}_dashboard_before.png"))
        before = page.evaluate(IMAGE_SRCS, box.element_handle())
        sliders = box.locator(".widget-slider:visible")
        if sliders.count():
            handle = sliders.last.locator(".noUi-handle").first
            handle.focus()
            handle.press("ArrowRight")
        else:  # only a dropdown offers a choice in this mode: pick its next option
            select = box.locator(".widget-dropdown:visible select").last
            options = select.locator("option").all_inner_texts()
            current = select.input_value()
            # a signed score when there is one (its colour scale is centred at 0), else the next
            wanted = [o for o in options if o == "I_Like" and o != current]
            select.select_option((wanted or [o for o in options if o != current])[0])
        _wait_for(
            lambda: page.evaluate(IMAGE_SRCS, box.element_handle()) != before,
            WIDGET_UPDATE_S * 3,
            "the dashboard's figure to change",
            page,
        )
        _wait_for(
            lambda: page.evaluate(IMAGES_LOADED, box.element_handle()), 60, "the figure", page
        )
        page.wait_for_timeout(500)
        box.screenshot(path=str(OUT / f"{stem}_dashboard_after.png"))
        page.screenshot(path=str(OUT / f"{stem}_notebook.png"), full_page=True)
        assert not _missing_models(page), _missing_models(page)
    timing = OUT / "timing.json"
    times = json.loads(timing.read_text()) if timing.exists() else {}
    times[f"{stem}_browser_seconds"] = round(time.monotonic() - started, 1)
    timing.write_text(json.dumps(times, indent=1))


def test_quickstart_in_lecture_mode(tmp_path):
    """The size a teacher shows: Run All in lecture mode, no error and no missing widget model
    in the console; screenshots of the learning curves and of the RunPlayer at its last round."""
    OUT.mkdir(parents=True, exist_ok=True)
    notebook = ROOT / "notebooks" / "00_quickstart.ipynb"
    started = time.monotonic()
    with (
        # with progress bars, as a teacher sees it: a finished bar must not leave a view of a
        # closed widget model behind ("Error: widget model not found" in the console)
        lab_with(notebook, tmp_path, mode="lecture", progress="1") as lab,
        browser_page(lab, notebook, run_all_s=LECTURE_RUN_ALL_S) as page,
    ):
        assert "lecture mode" in page.inner_text("body")
        assert not _missing_models(page), _missing_models(page)
        page.set_viewport_size({"width": 1400, "height": 3000})
        cells = page.locator(".jp-Notebook .jp-Cell")
        nb = nbformat.read(notebook, as_version=4)
        curves = next(i for i, c in enumerate(nb.cells) if "plot_learning_curves(" in c.source)
        player = next(i for i, c in enumerate(nb.cells) if "RunPlayer(RUN_DIR" in c.source)
        area = cells.nth(curves).locator(".jp-Cell-outputArea")
        area.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        area.screenshot(path=str(OUT / "00_quickstart_lecture_curves.png"))
        area = cells.nth(player).locator(".jp-Cell-outputArea")
        area.scroll_into_view_if_needed()
        _wait_for(lambda: area.locator(".js-plotly-plot").count() > 0, 60, "the RunPlayer", page)
        before = _plot_data(page)
        handle = area.locator(".widget-slider .noUi-handle").last
        handle.focus()
        handle.press("End")  # the last round
        _wait_for(lambda: _plot_data(page) != before, WIDGET_UPDATE_S, "the RunPlayer redraw", page)
        _wait_for(
            lambda: page.evaluate(IMAGES_LOADED, area.element_handle()), 60, "the picks", page
        )
        page.wait_for_timeout(1500)
        area.screenshot(path=str(OUT / "00_quickstart_lecture_runplayer.png"))
        assert not _missing_models(page), _missing_models(page)
    timing = OUT / "timing.json"
    times = json.loads(timing.read_text()) if timing.exists() else {}
    times["00_quickstart_lecture_browser_seconds"] = round(time.monotonic() - started, 1)
    timing.write_text(json.dumps(times, indent=1))
