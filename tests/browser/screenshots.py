"""Screenshots of each notebook's main figure as a user sees it: JupyterLab in headless chromium.

For every notebook in :data:`MAIN_FIGURES` this starts JupyterLab (lecture mode by default, the
size a teacher shows; ``--mode smoke`` for the CI size; the harness of ``browser_jupyterlab.py``),
runs all cells, scrolls to the output of the chosen cell and saves a
PNG of it, cropped to that output, as ``docs/screenshots/NN_<name>.png``. A PNG over
:data:`MAX_BYTES` is re-encoded with a 256-colour palette. Not a test (pytest does not collect
it): run ``python tests/browser/screenshots.py [--mode smoke] [00 03 …]`` with chromium and playwright installed
(``make chromium``, ``pip install -e ".[browser]"``); ``docs/screenshots/README.md`` says what
each file shows.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nbformat  # noqa: E402
from browser_jupyterlab import (  # noqa: E402
    IMAGES_LOADED,
    LECTURE_RUN_ALL_S,
    ROOT,
    browser_page,
    lab_with,
)

DOCS = ROOT / "docs" / "screenshots"
MAX_BYTES = 300_000
#: notebook stem → (a piece of the source of the cell whose output is the main figure, which of
#: its visible outputs (None: the whole output area), the screenshot's name); a stem in
#: :data:`TO_THE_END` first moves the output's last slider to its maximum (the last round of a
#: replay). The cell is found by its source, so notes and exercises added above it do not move it.
MAIN_FIGURES = {
    "00_quickstart": ("RunPlayer(RUN_DIR", None, "00_quickstart_runplayer.png"),
    "01_baselines": ("fig, toy_queries = compare_picks(", None, "01_baselines_toy_picks.png"),
    "02_fisher_kernel": ("fig, summary = fisher_explorer(", 0, "02_fisher_kernel_pfk_explorer.png"),
    "03_gmm": ("maps = toy_likelihood_maps(", None, "03_gmm_likelihood_maps.png"),
    "04_self_supervised": ("budget_slider = ", None, "04_self_supervised_budget_picks.png"),
    "05_ntkcpl": ("state = toy_state()", 0, "05_ntkcpl_coverage.png"),
    "06_asal": ("res = toy_ascent(X_toy", None, "06_asal_toy_ascent.png"),
    "07_ducoffe_part1": ("on_round=keep_norms", 0, "07_ducoffe_learning_curves.png"),
    "08_wasserstein": ("SOLVERS = {", 0, "08_wasserstein_toy_prototypes.png"),
    "09_text_saliency": ("explorer = TextSaliencyExplorer(", None, "09_text_saliency_explorer.png"),
}
TO_THE_END = ("00_quickstart", "04_self_supervised")


def shrink(png: bytes) -> bytes:
    """``png`` unchanged when small enough, else re-encoded with an adaptive 256-colour palette."""
    if len(png) <= MAX_BYTES:
        return png
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def main_cell(notebook: Path, marker: str) -> int:
    """Index of the first code cell of ``notebook`` whose source holds ``marker``."""
    cells = nbformat.read(notebook, as_version=4).cells
    hits = [i for i, c in enumerate(cells) if c.cell_type == "code" and marker in c.source]
    if not hits:
        raise SystemExit(f"{notebook.name}: no code cell holds {marker!r}; update MAIN_FIGURES")
    return hits[0]


def screenshot(stem: str, mode: str = "lecture") -> Path:
    marker, which, name = MAIN_FIGURES[stem]
    notebook = ROOT / "notebooks" / f"{stem}.ipynb"
    cell = main_cell(notebook, marker)
    with (
        tempfile.TemporaryDirectory() as tmp,
        lab_with(notebook, Path(tmp), mode=mode) as lab,
        browser_page(lab, notebook, run_all_s=LECTURE_RUN_ALL_S) as page,
    ):
        # tall enough that the whole figure is on screen: JupyterLab scrolls inside its panel,
        # so a figure taller than the window would be cut by the menus
        page.set_viewport_size({"width": 1400, "height": 3000})
        page.wait_for_timeout(1000)
        area = page.locator(".jp-Notebook .jp-Cell").nth(cell).locator(".jp-Cell-outputArea")
        target = (
            area
            if which is None
            else area.locator(":scope > .jp-OutputArea-child:visible")  # finished bars hide
            .nth(which)
            .locator(":scope > .jp-OutputArea-output")
        )
        target.scroll_into_view_if_needed()
        if stem in TO_THE_END:
            handle = target.locator(".widget-slider .noUi-handle").last
            handle.focus()
            handle.press("End")
            page.wait_for_timeout(3000)
        deadline = time.monotonic() + 60
        handle = target.element_handle()
        page.wait_for_timeout(1000)
        while time.monotonic() < deadline:
            plots = target.locator(".js-plotly-plot").count()
            if page.evaluate(IMAGES_LOADED, handle) or plots:
                break
            page.wait_for_timeout(500)
        page.wait_for_timeout(1500)  # plotly's and the widgets' last layout pass
        png = shrink(target.screenshot())
    DOCS.mkdir(parents=True, exist_ok=True)
    path = DOCS / name
    path.write_bytes(png)
    return path


def main(argv: list[str]) -> None:
    mode = "lecture"
    if "--mode" in argv:
        at = argv.index("--mode")
        mode, argv = argv[at + 1], argv[:at] + argv[at + 2 :]
    stems = [s for s in MAIN_FIGURES if not argv or s[:2] in argv or s in argv]
    for stem in stems:
        started = time.monotonic()
        path = screenshot(stem, mode)
        took = time.monotonic() - started
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1000} kB in {took:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
