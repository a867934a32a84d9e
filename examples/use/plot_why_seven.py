"""
========================
Why did the model say 7?
========================

Attribution methods give every pixel a share of the model's decision. They answer
different questions, and a picture from one of them is easily misread. We ask a small
CNN why it called some digits 7 with four methods from `Captum <https://captum.ai>`_
(through :mod:`mnistkit.explain`, ``pip install ".[explain]"``), fall into the
classic trap of saliency maps on MNIST's black background, and see how the *baseline* of
integrated gradients decides what the picture can show.
"""

# %%
# A CNN to explain
# ----------------
#
# A narrower version of the default CNN (16 and 32 channels), trained for one epoch on
# 6,000 images, is enough for a model worth explaining.
import torch

import mnistkit
from mnistkit import explain, plotting

mnistkit.seed_everything(0)
mnist = mnistkit.datasets.load("mnist")
cnn = mnistkit.get_model("cnn", channels=(16, 32), hidden=64)
trainer = mnistkit.Trainer(cnn, mnistkit.TrainConfig(epochs=1, batch_size=64))
trainer.fit(mnist.train.subset(slice(0, 6_000)))
report = trainer.evaluate(mnist.test.subset(slice(0, 2_000)))
print(f"accuracy on 2,000 test images: {report.accuracy:.2%}")
assert report.accuracy > 0.9, report.accuracy

# %%
# Four digits the model calls 7
# -----------------------------
#
# :func:`mnistkit.explain.attributions` runs several methods on the same digits, each
# explaining the score (logit) of the predicted class, and
# :func:`mnistkit.plotting.plot_attributions` draws each digit with every method's heat
# map and the map laid over the digit. For integrated gradients and occlusion, red pixels
# push the score of 7 up and blue ones down.
#
# * **saliency**: the size of the gradient (its absolute value, so never blue), how much the
#   score *would* change if the pixel changed, in either direction;
# * **integrated gradients**: the gradient averaged along the way from a black image to
#   the digit, times the pixel's change on that way;
# * **occlusion**: how much the score drops when a 5×5 patch is painted black;
# * **Grad-CAM**: where the last convolution's feature maps mattered, upsampled from its
#   coarser 14×14 grid.
predicted = trainer.predict(mnist.test.images[:200])
sevens = torch.nonzero(predicted == 7).flatten()[:4]
digits = mnist.test.images[sevens]
maps = explain.attributions(cnn, digits)
fig = plotting.plot_attributions(
    digits, maps, targets=predicted[sevens], labels=mnist.test.labels[sevens]
)


def fold(fig, columns=5):
    """Fold each digit's row of panels into lines of two methods, for a phone's width.

    The digit stays left of its first line; the panels themselves are unchanged.
    """
    rows, cols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    per_line = (columns - 1) // 2
    lines = -(-((cols - 1) // 2) // per_line)
    width, height = fig.get_size_inches()
    cell = width / cols
    grid = fig.add_gridspec(rows * lines, 1 + 2 * per_line)
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        row, col = spec.rowspan.start, spec.colspan.start
        if col == 0:
            ax.set_subplotspec(grid[row * lines, 0])
        else:
            line, slot = divmod((col - 1) // 2, per_line)
            ax.set_subplotspec(grid[row * lines + line, 1 + 2 * slot + (col - 1) % 2])
    fig.set_size_inches((1 + 2 * per_line) * cell, height + rows * (lines - 1) * cell)


fold(fig)

# %%
# The three that look at the input agree on the strokes: the horizontal bar and the
# diagonal. Grad-CAM is smoother because it sees the image at half the resolution.
#
# The pitfall: saliency on a black background
# -------------------------------------------
#
# The saliency map is speckled all over the black background, and it is tempting to
# read it as "the model looks there". It does not say that. A gradient measures
# *sensitivity*: how the score would move if a pixel changed, not what the pixel
# contributed. A black pixel does contribute: the model normalises its 0 to
# (0 − 0.1307) / 0.3081 ≈ −0.42, which its weights turn into a share of the score. What is
# zero on the background is its contribution *compared with black*: gradient × input and
# integrated gradients from a black baseline multiply by the pixel's difference from
# black, 0, and are exactly zero there.
background = digits.unsqueeze(1) == 0
saliency = maps["saliency"]
ig_black = maps["integrated_gradients"]
share = float(saliency[background].sum() / saliency.sum())
print(f"share of the saliency map on black pixels: {share:.0%}")
largest = float(ig_black[background].abs().max())
print(f"largest integrated-gradients value on black pixels: {largest}")
assert share > 0.3
assert largest == 0.0

# %%
# Compared to what? The baseline decides
# --------------------------------------
#
# Integrated gradients split a *difference*: score(digit) − score(baseline). The method
# is built so that the attributions add up to that difference (*completeness*), which we
# can check. With the black baseline the question is "what did the ink add?", and
# background pixels, equal to the baseline, can never get a share. But the empty space
# of a 7 is evidence too: where a 9 would close its loop, there is no ink.
#
# A grey baseline asks "what did this digit add over a featureless grey image?". Now
# *darkness* is a change as well, and the background gets a share: red where a dark pixel
# speaks for 7, blue where it speaks against. How much of the map moves to the background
# depends on how far the baseline is from black: less for MNIST's mean pixel (0.13, nearly
# black) than for mid-grey (0.5), where the background holds most of it.
mean = float(cnn.normalize.mean.flatten()[0])
images = digits.unsqueeze(1).float() / 255
cnn.eval()
by_baseline = {}
for name, value in (("black", 0.0), ("mean pixel", mean), ("mid-grey", 0.5)):
    values = explain.integrated_gradients(
        cnn, digits, target=7, baseline=value, steps=128
    )
    with torch.no_grad():
        difference = cnn(images)[:, 7] - cnn(torch.full_like(images, value))[:, 7]
    sums = values.sum(dim=(1, 2, 3))
    share = float(values[background].abs().sum() / values.abs().sum())
    print(
        f"{name:>10} baseline: sums {sums.numpy().round(2)}, score differences "
        f"{difference.numpy().round(2)}, share on black pixels {share:.0%}"
    )
    # completeness, up to the integration error of 128 steps
    assert torch.allclose(
        sums, difference, atol=0.05 + 0.02 * float(difference.abs().max())
    )
    by_baseline[name] = (values, share)
assert by_baseline["black"][1] == 0.0
assert 0.05 < by_baseline["mean pixel"][1] < by_baseline["mid-grey"][1]
assert by_baseline["mid-grey"][1] > 0.5
fig = plotting.plot_attributions(
    digits,
    {f"baseline {name}": values for name, (values, _) in by_baseline.items()},
    targets=[7] * len(digits),
    title="Integrated gradients: the same digits, three baselines",
)
fold(fig)

# %%
# No picture is "the" explanation: each answers its own question, and a figure of
# attributions should always say what it compared against.
#
# A model whose answer is exact
# -----------------------------
#
# For softmax regression the score of class :math:`k` is
# :math:`z_k = \sum_j w_{kj}(x_j - \mu)/\sigma + b_k`, so its gradient is
# :math:`w_{kj}/\sigma` everywhere and every method can be written down. Integrated
# gradients from the grey baseline :math:`\mu` give each pixel exactly its term
# :math:`w_{kj}(x_j - \mu)/\sigma` of the sum.
linear = mnistkit.get_model("linear")
mnistkit.Trainer(linear, mnistkit.TrainConfig(epochs=1)).fit(
    mnist.train.subset(slice(0, 6_000))
)
ig_linear = explain.integrated_gradients(linear, digits, target=7, baseline=mean)
weight = linear.fc.weight.detach()[7].reshape(1, 1, 28, 28)
terms = weight * (images - mean) / linear.normalize.std
print(
    "largest difference from the exact terms:", float((ig_linear - terms).abs().max())
)
assert torch.allclose(ig_linear, terms, atol=1e-6)
