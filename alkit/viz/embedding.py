"""2-D maps of features for plots and widgets (UMAP, t-SNE or PCA), cached by content."""

from __future__ import annotations

import hashlib

import numpy as np

from alkit.errors import AlkitError, check_finite

METHODS = ("umap", "tsne", "pca")
_CACHE: dict[tuple, np.ndarray] = {}


def _fingerprint(features: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(features).tobytes()).hexdigest()


def project_2d(features_N_D, method: str = "umap", seed: int = 0, **kwargs) -> np.ndarray:
    """Project ``N × D`` features to ``N × 2`` for plotting.

    ``umap`` (umap-learn), ``tsne`` (scikit-learn) or ``pca``; results are cached on the
    features' content, the method and its options, so a widget redraw does not recompute them.
    Inputs that are already 2-D are returned as float32 unchanged.
    """
    if method not in METHODS:
        raise AlkitError(
            f"unknown projection {method!r}; valid projections are: {', '.join(METHODS)}"
        )
    X = np.asarray(features_N_D, dtype=np.float32).reshape(len(features_N_D), -1)
    check_finite("features to project", X)
    if X.shape[1] == 2:
        return X
    key = (_fingerprint(X), method, seed, tuple(sorted(kwargs.items())))
    if key not in _CACHE:
        if method == "pca":
            from sklearn.decomposition import PCA

            out = PCA(2, random_state=seed).fit_transform(X)
        elif method == "tsne":
            from sklearn.manifold import TSNE

            out = TSNE(2, random_state=seed, init="pca", **kwargs).fit_transform(X)
        else:
            import umap

            out = umap.UMAP(n_components=2, random_state=seed, **kwargs).fit_transform(X)
        _CACHE[key] = np.asarray(out, dtype=np.float32)
    return _CACHE[key]
