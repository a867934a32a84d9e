"""DigitClassifier under scikit-learn's own estimator checks, and on real digits."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone  # type: ignore[import-untyped]
from sklearn.pipeline import Pipeline, make_pipeline  # type: ignore[import-untyped]
from sklearn.utils.estimator_checks import (  # type: ignore[import-untyped]
    estimator_checks_generator,
)
from sklearn.utils.validation import (  # type: ignore[import-untyped]
    check_is_fitted,
    validate_data,
)

from mnistkit.datasets import DatasetSplits
from mnistkit.sklearn import DigitClassifier


def _tiny() -> DigitClassifier:
    """Trains in milliseconds on a check's few dozen points: the checks test the contract."""
    return DigitClassifier("linear", epochs=1, batch_size=16)


class ToyToImages(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Spread a check's few toy features over 784 pixels (each scaled to [0, 1] by its
    training range, then repeated), so that the checks that fit on toy data reach the
    classifier."""

    def fit(self, X: Any, y: Any = None) -> ToyToImages:
        X = validate_data(self, X, dtype=np.float64)
        self.low_, self.high_ = X.min(axis=0), X.max(axis=0)
        return self

    def transform(self, X: Any) -> npt.NDArray[np.float64]:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        span = np.where(self.high_ > self.low_, self.high_ - self.low_, 1.0)
        scaled = np.clip((X - self.low_) / span, 0.0, 1.0)
        return np.asarray(np.tile(scaled, -(-784 // X.shape[1]))[:, :784])


#: Why each check that cannot pass on the bare classifier fails. Every one of them fits on
#: toy data (1 to 20 features) that is no image; the same checks run on the classifier
#: behind ToyToImages below.
_TOY_DATA = (
    "fits on toy data of a few features; DigitClassifier takes 784-pixel images and says "
    "so (the check runs again behind ToyToImages)"
)
BARE_EXPECTED = dict.fromkeys(
    [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_classifier_data_not_an_array",
        "check_classifiers_one_label",
        "check_classifiers_classes",
        "check_classifiers_train",
        "check_supervised_y_2d",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    ],
    _TOY_DATA,
)


#: scikit-learn runs this check only when SCIPY_ARRAY_API is set before SciPy is imported
#: and reports it skipped otherwise; DigitClassifier takes NumPy arrays
#: (``array_api_support`` is False), so the check is left out rather than skipped.
LEFT_OUT = "check_array_api_input"


def _name(check: Any) -> str:
    return str(getattr(check, "func", check).__name__)


def _checks(
    estimator: Any, expected: dict[str, str], may_fail: dict[str, str] | None = None
) -> list[Any]:
    """scikit-learn's checks of ``estimator``, as ``parametrize_with_checks`` makes them
    (strict: a check listed as failing that passes fails), :data:`LEFT_OUT` left out; the
    checks in ``may_fail`` are expected to fail without being held to it."""
    may_fail = may_fail or {}
    kept = []
    for param in estimator_checks_generator(
        estimator,
        legacy=True,
        expected_failed_checks={**expected, **may_fail},
        mark="xfail",
        xfail_strict=True,
    ):
        values = getattr(param, "values", param)  # a pytest.param when marked
        name = _name(values[1])
        if name in may_fail:
            mark = pytest.mark.xfail(strict=False, reason=may_fail[name])
            param = pytest.param(*values, marks=mark, id=getattr(param, "id", None))
        if name != LEFT_OUT:
            kept.append(param)
    return kept


def _id(value: Any) -> str:
    if isinstance(value, BaseEstimator):
        return type(value).__name__
    keywords = getattr(value, "keywords", {})
    shown = ",".join(f"{k}={v}" for k, v in keywords.items() if k != "name")
    return _name(value) + (f"({shown})" if shown else "")


@pytest.mark.parametrize(("estimator", "check"), _checks(_tiny(), BARE_EXPECTED), ids=_id)
def test_scikit_learn_checks(estimator: DigitClassifier, check: Any) -> None:
    check(estimator)


#: A Pipeline fits its steps in place, so its ``steps`` parameter changes during fit:
#: scikit-learn's own pipelines (StandardScaler + LogisticRegression) fail these two as well.
PIPELINE_EXPECTED = dict.fromkeys(
    ["check_estimators_overwrite_params", "check_dont_overwrite_parameters"],
    "a Pipeline fits its steps in place; scikit-learn's own pipelines fail this check too",
)
#: Checks that may fail, or not, by the last bit of a float32 result.
PIPELINE_MAY_FAIL: dict[str, str] = {}
if tuple(int(part) for part in torch.__version__.split(".")[:2]) < (2, 5):
    # PyTorch 2.4's CPU kernels round float32 products differently for a batch of one than
    # for a larger batch (1.4e-7 measured, the check allows 1e-7); later releases agree.
    # Whether the difference crosses 1e-7 varied between runs (it failed in one CI run of
    # the minimum versions and passed in the next), so it is not held to failing.
    PIPELINE_MAY_FAIL["check_methods_subset_invariance"] = (
        "PyTorch 2.4: float32 results depend on the batch size in the last bit"
    )


@pytest.mark.parametrize(
    ("estimator", "check"),
    _checks(make_pipeline(ToyToImages(), _tiny()), PIPELINE_EXPECTED, PIPELINE_MAY_FAIL),
    ids=_id,
)
def test_scikit_learn_checks_behind_toy_to_images(estimator: Pipeline, check: Any) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def digits(mnist: DatasetSplits) -> tuple[npt.NDArray[np.uint8], ...]:
    """2,000 training and 1,000 test images as scikit-learn arrays: (N, 784) uint8."""
    train, test = mnist.train.subset(slice(0, 2_000)), mnist.test.subset(slice(0, 1_000))
    return (
        train.images.reshape(-1, 784).numpy(),
        train.labels.numpy(),
        test.images.reshape(-1, 784).numpy(),
        test.labels.numpy(),
    )


def test_fits_real_digits_in_every_array_layout(digits: tuple[npt.NDArray[Any], ...]) -> None:
    X, y, X_test, y_test = digits
    clf = DigitClassifier("linear", epochs=2).fit(X, y)
    assert list(clf.classes_) == list(range(10)) and clf.n_features_in_ == 784
    # softmax regression, 2 epochs on 2,000 digits: 80% measured
    assert clf.score(X_test, y_test) > 0.75
    probs = clf.predict_proba(X_test)
    assert probs.shape == (1_000, 10) and np.allclose(probs.sum(axis=1), 1.0)
    # (N, 28, 28) images and floats on the training data's 0-255 scale are the same pixels
    for same in (X_test.reshape(-1, 28, 28), X_test.astype(np.float64)):
        np.testing.assert_array_equal(clf.predict_proba(same), probs)
    # trained on floats in [0, 1] (the same pixels), it predicts floats in [0, 1] alike
    unit = DigitClassifier("linear", epochs=2).fit(X / 255.0, y)
    assert unit.pixel_scale_ == 1.0
    np.testing.assert_array_equal(unit.predict_proba(X_test / 255.0), probs)
    # string labels come back as given (sorted: another order of the outputs)
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    named = DigitClassifier("linear", epochs=2).fit(X, names[y])
    assert list(named.classes_) == sorted(names) and set(named.predict(X_test)) <= set(names)
    assert named.score(X_test, names[y_test]) > 0.75


def test_parameters_map_onto_the_recipe_and_clone(digits: tuple[npt.NDArray[Any], ...]) -> None:
    X, y, _, _ = digits
    clf = DigitClassifier("mlp", lr=3e-3, epochs=1, weight_decay=0.01)
    copy = clone(clf).set_params(epochs=2)
    assert copy.get_params()["epochs"] == 2 and clf.get_params()["epochs"] == 1
    copy.fit(X[:500], y[:500])
    assert copy.recipe_["name"] == "mlp" and copy.recipe_["model"] == "mlp"
    assert (copy.config_.lr, copy.config_.epochs, copy.config_.weight_decay) == (3e-3, 2, 0.01)
    assert len(copy.history_) == 2
    with pytest.raises(ValueError, match=r"X has 10 features.*expecting 784"):
        copy.predict(X[:3, :10])
    with pytest.raises(ValueError, match=r"float pixels must lie in \[0, 1\]"):
        DigitClassifier("linear", epochs=1, pixel_scale=1.0).fit(X[:50] * 2.0, y[:50])
