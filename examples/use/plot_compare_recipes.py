"""
=========================================
Is recipe B really better than recipe A?
=========================================

Two models score about 97.7% on MNIST's 10,000 test images, a third about 91.8%. Which
differences are real and which are the luck of one training run? Comparing the two
accuracies, or their two confidence intervals, throws away what makes the question easy to
answer: all the models were evaluated on the *same* images. :func:`mnistkit.metrics.compare`
counts the images on which two models disagree and tests only those, with the exact McNemar
test. Here we train two recipes briefly, one of them with two seeds, and compare all three.
"""

# %%
# Train briefly
# -------------
#
# The ``fast`` recipe (a small CNN) twice, with seeds 0 and 1, and the ``mlp`` recipe (a
# multi-layer perceptron) once: each for one epoch on the first 12,000 training images, so
# that this page stays fast. The recipes' own settings are kept otherwise.
import matplotlib.pyplot as plt

import mnistkit
from mnistkit.metrics import compare
from mnistkit.recipes import get_recipe

mnist = mnistkit.datasets.load("mnist")
train = mnist.train.subset(slice(0, 12_000))

predictions = {}
for name, recipe_name, seed in [
    ("fast", "fast", 0),
    ("fast, seed 1", "fast", 1),
    ("mlp", "mlp", 0),
]:
    recipe = get_recipe(recipe_name)
    mnistkit.seed_everything(seed)
    trainer = mnistkit.Trainer(
        recipe.build_model(),
        recipe.config.replace(epochs=1, seed=seed),
        augment=recipe.augment,
    )
    trainer.fit(train)
    predictions[name] = mnistkit.predict(trainer.model, mnist.test.images)

# %%
# Compare them on the same images
# -------------------------------
#
# :func:`~mnistkit.metrics.compare` takes each model's predicted labels (or its class
# probabilities) and the true labels. It gives each model's errors with a 95% Wilson
# interval for its accuracy, then, for each pair, the four counts of the disagreement table
# (both right, only A right, only B right, both wrong), the exact McNemar p-value, the
# difference of the accuracies with its 95% interval, and a verdict.
result = compare(predictions, mnist.test.labels)
print(result)

# %%
# The two seeds of ``fast`` disagree on well over a hundred images, but those split almost
# evenly between them: there is **no evidence of a difference** (p far above 0.05), and the
# interval of the difference holds 0. The ``fast`` recipe against the ``mlp`` is another
# matter: hundreds of images only the CNN gets right against a few dozen the other way, a
# p-value below 0.0001, and an interval of the difference far from 0.
seeds = result.pair("fast", "fast, seed 1")
assert seeds.better is None and seeds.p_value > 0.05, seeds
low, high = seeds.difference_interval
assert low < 0 < high, (low, high)
assert seeds.only_a + seeds.only_b > 100, seeds
for cnn in ("fast", "fast, seed 1"):
    recipes = result.pair(cnn, "mlp")
    assert recipes.better == cnn and recipes.p_value < 1e-4, recipes
    assert recipes.difference_interval[0] > 0.02, recipes
    assert recipes.only_a > 5 * recipes.only_b, recipes

# %%
# The test is about these two models, not about every model the recipe could train: two
# seeds of one recipe are two different models, and one may truly be better than the
# other (trained briefly on a few more images, two seeds of ``fast`` did come out
# different at p = 0.03). To ask whether recipe A beats recipe B, compare several seeds
# of each, and count how often, and by how much, one wins.
#
# Only the disagreements count
# ----------------------------
#
# :func:`~mnistkit.plotting.plot_comparison` draws, for each pair, the images only A gets
# right (to the left) against those only B gets right (to the right). Two bars of about the
# same length mean no difference, whatever the two accuracies are: the images both models
# get right, or both get wrong, say nothing about which is better.
ax = mnistkit.plotting.plot_comparison(result)
plt.show()

# %%
# The same from the command line
# ------------------------------
#
# ``mnistkit compare`` does all of this for saved models (model files, ensembles, or the
# bundled ``pretrained:`` models), on the test split of the data set they were trained on,
# and prints the same tables (``--json`` for JSON, ``--figure`` for the plot above):
#
# .. code-block:: console
#
#    $ mnistkit train --recipe fast --val-fraction 0 --seed 0 --out runs/fast-0
#    $ mnistkit train --recipe fast --val-fraction 0 --seed 1 --out runs/fast-1
#    $ mnistkit compare runs/fast-0/model.safetensors runs/fast-1/model.safetensors \
#          --figure pairs.png
#
# With more than two models each pair is tested on its own, with no correction for multiple
# comparisons: among many pairs, one in twenty will pass the 0.05 level by chance alone.
# The user guide's page :ref:`guide-confidence` explains the intervals and the test.
