"""How good are frozen features? kNN (k = 20, cosine) and linear-probe accuracy.

These checks read labels, so they run only **after** an artifact is built, outside its builder,
and only on data the experiment never queries: by default the test set alone, by stratified
k-fold cross-validation (each test fold is classified from the other folds). A labelled
reference set (``features_ref``/``y_ref``, e.g. the pool in a benchmark) gives the usual
"train on the pool, test on the test set" protocol instead.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int, check_same_length
from alkit.kernels import knn


def _unit(features_N_D) -> torch.Tensor:
    X = torch.as_tensor(np.asarray(features_N_D, dtype=np.float32)).reshape(len(features_N_D), -1)
    return torch.nn.functional.normalize(X, dim=1)


def knn_predict(features_ref_R_D, y_ref_R, features_Q_D, k: int = 20) -> np.ndarray:
    """Majority vote of the ``k`` nearest references by cosine similarity: labels ``Q``.

    Each neighbour votes with weight ``1 + 1e-6 · cos``, so ties go to the class of the more
    similar neighbours. Blocked through :func:`alkit.kernels.knn` (no ``Q × R`` matrix).
    """
    k = check_positive_int("k", k)
    y_ref = np.asarray(y_ref_R, dtype=np.int64)
    check_same_length(features_ref=features_ref_R_D, y_ref=y_ref)
    sqd, idx = knn(_unit(features_Q_D), _unit(features_ref_R_D), k=min(k, len(y_ref)))
    cos = 1.0 - sqd.double().numpy() / 2.0
    votes = np.zeros((len(idx), int(y_ref.max()) + 1))
    np.add.at(votes, (np.repeat(np.arange(len(idx)), idx.shape[1]), y_ref[idx.numpy()].ravel()),
              (1.0 + 1e-6 * cos).ravel())  # fmt: skip
    return votes.argmax(1)


def linear_probe_predict(features_train_N_D, y_train_N, features_Q_D, seed: int = 0) -> np.ndarray:
    """A multinomial logistic regression (scikit-learn, L2, C = 1) on standardised features,
    trained on ``features_train_N_D`` and applied to ``features_Q_D``: labels ``Q``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr = np.asarray(features_train_N_D, dtype=np.float64).reshape(len(features_train_N_D), -1)
    Xq = np.asarray(features_Q_D, dtype=np.float64).reshape(len(features_Q_D), -1)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))
    return clf.fit(Xtr, np.asarray(y_train_N)).predict(Xq)


def feature_quality(
    features_test_N_D,
    y_test_N,
    *,
    features_ref=None,
    y_ref=None,
    k: int = 20,
    folds: int = 5,
    linear: bool = True,
    seed: int = 0,
) -> dict:
    """kNN (k, cosine) and linear-probe accuracy of frozen features on the test set.

    Without a reference set: stratified ``folds``-fold cross-validation within the test set
    (``protocol = "test-cv"``). With ``features_ref``/``y_ref``: classifiers fit on the
    reference set, accuracy on the whole test set (``protocol = "reference"``).
    Returns ``{"protocol", "knn_k", "knn_accuracy", "linear_probe_accuracy", "n_test"}``
    (``linear_probe_accuracy`` is None when ``linear=False``).
    """
    y_test = np.asarray(y_test_N, dtype=np.int64)
    check_same_length(features_test=features_test_N_D, y_test=y_test)
    F_test = np.asarray(features_test_N_D, dtype=np.float32).reshape(len(y_test), -1)
    if features_ref is not None:
        if y_ref is None:
            raise AlkitError("features_ref needs y_ref, the reference labels")
        y_ref = np.asarray(y_ref, dtype=np.int64)
        F_ref = np.asarray(features_ref, dtype=np.float32).reshape(len(y_ref), -1)
        knn_pred = knn_predict(F_ref, y_ref, F_test, k)
        lin_pred = linear_probe_predict(F_ref, y_ref, F_test, seed) if linear else None
        protocol = "reference"
    else:
        from sklearn.model_selection import StratifiedKFold

        folds = check_positive_int("folds", folds)
        if folds < 2:
            raise AlkitError(f"folds must be ≥ 2 for test-set cross-validation, got {folds}")
        knn_pred = np.zeros(len(y_test), dtype=np.int64)
        lin_pred = np.zeros(len(y_test), dtype=np.int64) if linear else None
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for tr, te in splitter.split(F_test, y_test):
            knn_pred[te] = knn_predict(F_test[tr], y_test[tr], F_test[te], k)
            if linear:
                lin_pred[te] = linear_probe_predict(F_test[tr], y_test[tr], F_test[te], seed)
        protocol = "test-cv"
    return {
        "protocol": protocol,
        "knn_k": k,
        "knn_accuracy": float((knn_pred == y_test).mean()),
        "linear_probe_accuracy": None if lin_pred is None else float((lin_pred == y_test).mean()),
        "n_test": len(y_test),
    }


def quality_curve(
    name: str,
    X_pool,
    X_test,
    y_test,
    epochs,
    *,
    data_key: dict,
    seed: int = 0,
    options: dict | None = None,
    linear: bool = True,
    progress: bool | None = None,
):
    """Feature quality against training length: artifact ``name`` built (or loaded from the
    cache) for each number of ``epochs``, its test features checked by :func:`feature_quality`
    (test-set CV). Returns a DataFrame with ``epochs``, ``knn_accuracy``,
    ``linear_probe_accuracy``, ``final_loss`` and ``cache_hit``."""
    import pandas as pd

    from alkit.artifacts import build_artifact, encode

    rows = []
    for e in epochs:
        art = build_artifact(name, X_pool, data_key=data_key, seed=seed,
                             options={**(options or {}), "epochs": int(e)}, progress=progress)  # fmt: skip
        q = feature_quality(encode(art, X_test), y_test, linear=linear, seed=seed)
        rows.append({"epochs": int(e), "knn_accuracy": q["knn_accuracy"],
                     "linear_probe_accuracy": q["linear_probe_accuracy"],
                     "final_loss": art.meta["losses"][-1], "cache_hit": art.meta["cache_hit"]})  # fmt: skip
    return pd.DataFrame(rows)
