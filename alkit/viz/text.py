"""Pictures of text deconvolution saliency (thesis ch. 12, Figs. 12.4 and 12.7) and the widget of
notebooks/09_text_saliency.ipynb.

:func:`saliency_frame` gathers, for one sequence, its words, their TDS, their z-scores for the
CNN's predicted class and the Pearson correlation of the two; :func:`highlight_html` colours
words by a score; :func:`plot_saliency_lines` draws both scores scaled to ±38 (the thesis's
scale). :class:`TextSaliencyExplorer` wires a sequence dropdown to them with ``observe``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import torch

from alkit.data.text import PAD, Vocabulary
from alkit.errors import AlkitError
from alkit.saliency import tds, token_zscores
from alkit.viz.dashboard import drawn_into
from alkit.viz.style import MIN_FONT_PT, NOTEBOOK_WIDTH_IN

#: the plotting range of Fig. 12.4 (both scores scaled to ±38)
THESIS_SCALE = 38.0


def highlight_html(words, scores, signed: bool = False) -> str:
    """Words as HTML spans whose background opacity is ``|score| / max |score|``: red, or red
    for positive and blue for negative scores when ``signed``."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) != len(words):
        raise AlkitError(f"{len(words)} words but {len(s)} scores")
    top = float(np.abs(s).max()) if len(s) else 0.0
    spans = []
    for w, v in zip(words, s, strict=True):
        alpha = abs(v) / top if top > 0 else 0.0
        rgb = "214,39,40" if (v >= 0 or not signed) else "31,119,180"
        spans.append(
            f'<span style="background: rgba({rgb},{alpha:.2f}); padding: 1px 2px; '
            f'border-radius: 3px" title="{v:.3g}">{html.escape(w)}</span>'
        )
    return '<div style="line-height: 1.9">' + " ".join(spans) + "</div>"


@dataclass
class SaliencyFrame:
    """One sequence: its ``words`` (PAD dropped), ``tds`` and ``zscore`` per word, the
    ``predicted`` class name and p(ĉ), and ``pearson`` r(z, TDS) (NaN when either is constant)."""

    words: list[str]
    tds: np.ndarray
    zscore: np.ndarray
    predicted: str
    probability: float
    pearson: float


def saliency_frame(
    model, tokens_L, vocabulary: Vocabulary, zscores_C_V, class_names
) -> SaliencyFrame:
    """TDS and z-scores of one token row under ``model`` (a :class:`TextCNN`)."""
    tokens = np.asarray(tokens_L, dtype=np.int64).reshape(1, -1)
    model.eval()
    with torch.no_grad():
        x = torch.as_tensor(tokens, device=next(model.parameters()).device)
        probs = torch.softmax(model(x), dim=1)[0].cpu().numpy()
    c = int(probs.argmax())
    keep = tokens[0] != PAD
    sal = tds(model, tokens)[0][keep]
    z = token_zscores(zscores_C_V, tokens, [c])[0][keep]
    r = float(np.corrcoef(sal, z)[0, 1]) if sal.std() > 0 and z.std() > 0 else float("nan")
    words = [vocabulary.tokens[int(t)] for t in tokens[0][keep]]
    return SaliencyFrame(words, sal, z, str(class_names[c]), float(probs[c]), r)


def scaled(values, limit: float = THESIS_SCALE) -> np.ndarray:
    """``values`` scaled so that the largest magnitude is ``limit`` (Fig. 12.4's ±38)."""
    v = np.asarray(values, dtype=np.float64)
    top = float(np.abs(v).max()) if v.size else 0.0
    return v * (limit / top) if top > 0 else v


def plot_saliency_lines(frame: SaliencyFrame, ax=None):
    """z-score and TDS of each word, both scaled to ±38, with their Pearson r (Fig. 12.4)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    x = np.arange(len(frame.words))
    ax.plot(x, scaled(frame.zscore), marker="o", ms=3, label=f"z-score ({frame.predicted})")
    ax.plot(x, scaled(frame.tds), marker="s", ms=3, label="TDS")
    ax.axhline(0, c="0.7", lw=0.8)
    ax.set_xticks(x, frame.words, rotation=70, fontsize=MIN_FONT_PT)
    ax.set_ylim(-THESIS_SCALE * 1.1, THESIS_SCALE * 1.1)
    ax.set_title(
        f"Pearson r(z, TDS) = {frame.pearson:.2f}; p({frame.predicted}) = {frame.probability:.2f}"
    )
    ax.set_ylabel("score scaled to ±38")
    ax.legend(loc="lower right", fontsize=MIN_FONT_PT)
    return ax


class TextSaliencyExplorer:
    """A dropdown over the given sequences; each choice redraws the words coloured by TDS and
    by z-score (signed) and the line plot of both. ``frame`` is the last
    :class:`SaliencyFrame`."""

    def __init__(
        self, model, tokens_B_L, vocabulary: Vocabulary, zscores_C_V, class_names, labels=None
    ):
        import ipywidgets as widgets

        self.model, self.tokens = model, np.asarray(tokens_B_L)
        self.vocabulary, self.z, self.class_names = vocabulary, zscores_C_V, class_names
        options = [
            (f"{i}: " + " ".join(vocabulary.decode(row)[:8]) + " …", i)
            for i, row in enumerate(self.tokens)
        ]
        self.sequence = widgets.Dropdown(options=options, value=0, description="sequence")
        self.labels = labels
        self.tds_html = widgets.HTML()
        self.z_html = widgets.HTML()
        self.output = widgets.Output()
        self.sequence.observe(lambda _change: self.redraw(), names="value")
        self.widget = widgets.VBox(
            [
                self.sequence,
                widgets.HTML("<b>TDS</b>"),
                self.tds_html,
                widgets.HTML("<b>z-score of the predicted class</b> (red +, blue −)"),
                self.z_html,
                self.output,
            ]
        )
        self.frame: SaliencyFrame | None = None
        self.redraw()

    def redraw(self) -> None:
        import matplotlib.pyplot as plt

        i = self.sequence.value
        self.frame = saliency_frame(
            self.model, self.tokens[i], self.vocabulary, self.z, self.class_names
        )
        truth = f" (true: {self.class_names[self.labels[i]]})" if self.labels is not None else ""
        self.tds_html.value = highlight_html(self.frame.words, self.frame.tds) + truth
        self.z_html.value = highlight_html(self.frame.words, self.frame.zscore, signed=True)
        with drawn_into(self.output):
            plt.figure(figsize=(0.88 * NOTEBOOK_WIDTH_IN, 3.6))  # fits a widget output
            plot_saliency_lines(self.frame)
            plt.tight_layout()
