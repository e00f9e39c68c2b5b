"""Self-supervised training (SimSiam, SimCLR) on small grey images, and feature quality checks.

The artifacts ``simsiam`` and ``simclr`` (:mod:`alkit.artifacts`) train through
:func:`train_ssl`; :func:`feature_quality` measures the result with labels, after the fact.
"""

from alkit.ssl.augment import Augment
from alkit.ssl.encoders import BACKBONES, ConvEncoder, Normalized, build_backbone
from alkit.ssl.quality import feature_quality, knn_predict, linear_probe_predict, quality_curve
from alkit.ssl.train import SSLConfig, SSLResult, encode_images, nt_xent, simsiam_loss, train_ssl

__all__ = [
    "BACKBONES",
    "Augment",
    "ConvEncoder",
    "Normalized",
    "SSLConfig",
    "SSLResult",
    "build_backbone",
    "encode_images",
    "feature_quality",
    "knn_predict",
    "linear_probe_predict",
    "nt_xent",
    "quality_curve",
    "simsiam_loss",
    "train_ssl",
]
