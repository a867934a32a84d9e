"""
=====================================================
A mnistkit model in scikit-learn pipelines and search
=====================================================

:class:`mnistkit.sklearn.DigitClassifier` is a scikit-learn estimator: ``fit(X, y)`` on
arrays of pixels, ``predict``, ``predict_proba``, ``score``, and parameters that
:class:`~sklearn.model_selection.GridSearchCV` can set (``pip install ".[sklearn]"``). Here
it sits at the end of a :class:`~sklearn.pipeline.Pipeline` whose first step may turn the
grey pixels into black and white, and a cross-validated grid search chooses that step and
the learning rate, on training digits only; the winner is scored once on the test set.
"""

# %%
# Digits as scikit-learn arrays
# -----------------------------
#
# scikit-learn works on one row of features per example: 784 pixels here, as floats in
# [0, 1] (``uint8`` arrays work too). A small part of MNIST keeps the page quick: 2,400
# training digits for the search, 2,000 test digits for the end.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer

import mnistkit
from mnistkit.sklearn import DigitClassifier

mnist = mnistkit.datasets.load("mnist")
X = mnist.train.images[:2_400].reshape(-1, 784).numpy() / 255.0
y = mnist.train.labels[:2_400].numpy()
X_test = mnist.test.images[:2_000].reshape(-1, 784).numpy() / 255.0
y_test = mnist.test.labels[:2_000].numpy()
print(X.shape, X.dtype, "->", np.bincount(y))

# %%
# A pipeline
# -----------
#
# The first step either passes the pixels through or binarises them (ink above 0.4
# becomes 1, the rest 0); the second trains the ``mlp`` recipe for three epochs in batches
# of 32. The
# classifier reads floats up to 1 as pixels in [0, 1] (its ``pixel_scale="auto"`` takes
# the scale of the data it is fitted on; ``uint8`` pixels are always 0-255, so a
# binariser applied to ``uint8`` arrays would give it nearly black images).
pipeline = Pipeline(
    [
        ("ink", "passthrough"),
        ("digits", DigitClassifier("mlp", epochs=3, batch_size=32)),
    ]
)

# %%
# A grid search
# -------------
#
# :class:`~sklearn.model_selection.GridSearchCV` clones the pipeline for every setting
# and each of two folds, sets the parameters by name (``digits__lr`` is the
# classifier's ``lr``, a :class:`~mnistkit.TrainConfig` field), and refits the best
# setting on all 2,400 digits. The test digits take no part.
grid = {
    "ink": ["passthrough", Binarizer(threshold=0.4)],
    "digits__lr": [1e-3, 1e-2],
}
search = GridSearchCV(pipeline, grid, cv=2)
search.fit(X, y)
for params, mean, std in zip(
    search.cv_results_["params"],
    search.cv_results_["mean_test_score"],
    search.cv_results_["std_test_score"],
    strict=True,
):
    ink = "binarised" if params["ink"] != "passthrough" else "grey"
    print(f"{ink:>9} pixels, lr {params['digits__lr']:g}: {mean:.3f} +- {std:.3f}")
print("chosen:", search.best_params_)

# %%
# The cross-validated accuracy of each setting, with the spread over the two folds:
labels = [
    f"{'binarised' if p['ink'] != 'passthrough' else 'grey'}\nlr {p['digits__lr']:g}"
    for p in search.cv_results_["params"]
]
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.bar(
    labels,
    search.cv_results_["mean_test_score"],
    yerr=search.cv_results_["std_test_score"],
    color="#1f77b4",
    capsize=4,
)
ax.set(
    ylim=(0.8, 1.0), ylabel="accuracy (2-fold CV)", title="Grid search on 2,400 digits"
)

# %%
# Tested once
# -----------
#
# The refitted best pipeline on the 2,000 test digits: the score a new digit can expect
# from these settings (no test digit chose them).
accuracy = search.score(X_test, y_test)
print(f"test accuracy of the chosen pipeline: {accuracy:.2%}")
assert search.best_score_ > 0.85
assert accuracy > 0.85
