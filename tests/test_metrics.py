"""Metrics against scikit-learn / NumPy and on constructed learning curves."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion

from alkit import metrics
from alkit.errors import AlkitError


def test_confusion_and_per_class_accuracy_match_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    cm = metrics.confusion_matrix(y, p, 5)
    np.testing.assert_array_equal(cm, sk_confusion(y, p, labels=range(5)))
    np.testing.assert_allclose(metrics.per_class_accuracy(y, p, 5), np.diag(cm) / cm.sum(1))
    assert metrics.accuracy(y, p) == pytest.approx(np.trace(cm) / 300)


def test_area_under_curve_is_a_mean_accuracy():
    b, a = [100, 200, 400], [0.5, 0.7, 0.8]
    assert metrics.area_under_curve(b, a, normalize=False) == pytest.approx(np.trapezoid(a, b))
    assert metrics.area_under_curve(b, a) == pytest.approx(np.trapezoid(a, b) / 300)
    with pytest.raises(AlkitError, match="strictly increasing"):
        metrics.area_under_curve([1, 1], [0.1, 0.2])


def test_labels_to_reach_interpolates():
    b, a = [100, 200, 300], [0.5, 0.7, 0.9]
    assert metrics.labels_to_reach(b, a, 0.6) == pytest.approx(150)
    assert metrics.labels_to_reach(b, a, 0.4) == 100
    assert np.isnan(metrics.labels_to_reach(b, a, 0.95))


def test_label_savings_on_a_curve_that_needs_half_the_labels():
    budgets = np.array([100, 200, 300, 400, 500, 600, 700, 800])
    ref = np.linspace(0.5, 0.85, 8)
    method_budgets = budgets / 2  # the same accuracies with half the labels
    saving = metrics.label_savings(method_budgets, ref, budgets, ref)
    assert saving == pytest.approx(50.0, abs=1e-9)
    assert metrics.label_savings(budgets, ref, budgets, ref) == pytest.approx(0.0)
    assert np.isnan(metrics.label_savings(budgets, ref * 0 + 0.3, budgets, ref))


def test_class_entropy():
    assert metrics.class_entropy([0, 1, 2, 3], 4) == pytest.approx(np.log(4))
    assert metrics.class_entropy([1, 1, 1], 4) == 0.0
