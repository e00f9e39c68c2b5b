"""Saliency for text models (Ducoffe's thesis, ch. 12): deconvolution saliency (TDS) and the
z-score baseline of textual data analysis."""

from alkit.saliency.tds import deconvolve, tds, token_zscores
from alkit.saliency.zscore import ZScoreClassifier, class_token_counts, zscores

__all__ = [
    "ZScoreClassifier",
    "class_token_counts",
    "deconvolve",
    "tds",
    "token_zscores",
    "zscores",
]
