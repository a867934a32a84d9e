"""
===============================================
What a CNN sees, and what a linear model learns
===============================================

A trained network is a pile of numbers, but some of them can be drawn. We look at the
filters of a convolutional network's first layer, at the feature maps they produce for one
digit, and at the weights of softmax regression, which turn out to be one template per
digit.
"""

# %%
# Train a CNN briefly
# -------------------
#
# One epoch over 6,000 images is enough for the first-layer filters to take shape.
import mnistkit
from mnistkit import plotting

mnistkit.seed_everything(0)
mnist = mnistkit.datasets.load("mnist")
cnn = mnistkit.get_model("cnn")
trainer = mnistkit.Trainer(cnn, mnistkit.TrainConfig(epochs=1, batch_size=64))
trainer.fit(mnist.train.subset(slice(0, 6_000)))
report = trainer.evaluate(mnist.test.subset(slice(0, 2_000)))
print(f"accuracy on 2,000 test images: {report.accuracy:.2%}")
assert report.accuracy > 0.9, report.accuracy

# %%
# The filters of the first layer
# ------------------------------
#
# The first convolution has 32 filters of 3×3 weights; here are the first 16. Each one
# slides over the image and, at every position, adds up the nine pixels under it weighted
# by its nine numbers. Red weights reward ink, blue ones penalise it, so a filter with red
# on one side and blue on the other responds to an edge in that direction.
fig = plotting.plot_filters(cnn, layer=0, ncols=4, max_filters=16)

# %%
# Feature maps
# ------------
#
# Passing one test digit through that layer gives 32 new images, one per filter: the
# *feature maps*. We look at what the layer hands on to the next one: the maps after its
# ReLU, which replaces every negative value by 0. All maps share one colour scale, shown
# by the colour bar, so equal brightness means equal activation in every panel. Each map
# is bright where its filter's pattern occurs: along strokes of some direction, or, for a
# few filters, on the background around the digit. A map that stays dark all over would
# belong to a filter that finds nothing in this digit. The digit goes in as it is stored,
# ``uint8`` pixels; the model's own first layer normalises them, as in training.
image = mnist.test.images[0]
print("label:", int(mnist.test.labels[0]))
fig = plotting.plot_feature_maps(cnn, image, activated=True, ncols=4, max_maps=16)


def shown_maps(figure):
    """The arrays and colour limits of a figure's map panels (not its colour bar)."""
    panels = [ax for ax in figure.axes if ax.images]
    arrays = [ax.images[0].get_array() for ax in panels]
    return arrays, {ax.images[0].get_clim() for ax in panels}


maps, scales = shown_maps(fig)
silent = sum(int(m.max() == 0) for m in maps)
print(f"{len(maps)} maps on {len(scales)} colour scale; {silent} are 0 everywhere")
# after ReLU nothing is negative, and every panel uses the same scale
assert len(scales) == 1 and min(m.min() for m in maps) >= 0
# most maps are brighter on the ink, a few on the background
ink = image.numpy() > 0
on_ink = sum(int(m[ink].mean() > m[~ink].mean()) for m in maps)
print(f"{on_ink} maps are brighter on the ink, {len(maps) - on_ink} on the background")
assert len(maps) / 2 < on_ink < len(maps)

# %%
# The second convolution works on those 32 maps after 2×2 max-pooling, so its 14×14 maps
# combine edges into larger parts of digits: curves, corners, line ends. Each of its
# kernels spans all 32 input maps at once (3×3×32 weights), which is how it combines them.
fig = plotting.plot_feature_maps(
    cnn, image, layer=1, activated=True, ncols=4, max_maps=16
)
maps, scales = shown_maps(fig)
assert len(scales) == 1 and min(m.min() for m in maps) >= 0
assert maps[0].shape == (14, 14)

# %%
# The weights of softmax regression
# ---------------------------------
#
# The ``linear`` model has no hidden layers: the score of each digit is the sum of the
# 784 pixels, each multiplied by that digit's weight for it. Drawn as a 28×28 image, a
# digit's weights are a *template*: red where ink makes the digit more likely, blue where
# ink speaks against it. We start the weights at zero instead of small random numbers, so
# that the pictures show only what training put there. One epoch over all 60,000 images
# takes a few seconds.
import torch

linear = mnistkit.get_model("linear")
torch.nn.init.zeros_(linear.fc.weight)
trainer = mnistkit.Trainer(linear, mnistkit.TrainConfig(epochs=1))
trainer.fit(mnist.train)
linear_accuracy = trainer.evaluate(mnist.test).accuracy
print(f"test accuracy {linear_accuracy:.2%}")
fig = plotting.plot_weights(linear)

# %%
# The templates show both why the model gets about nine digits in ten right and where it
# stops: a ``0`` is a red ring around a blue centre, the middle that a zero leaves empty and
# most other digits cross. But a single template per class cannot cover the many ways of
# writing a ``7`` or a ``2``; that takes the hidden layers of a perceptron or the shared
# filters of a CNN.
#
# In numbers: the mean weight of the ``0`` template within 3 pixels of the centre, and on a
# ring 6 to 10 pixels out, where a zero's stroke runs.
zero = linear.fc.weight[0].detach().reshape(28, 28)
rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
radius = ((rows - 13.5) ** 2 + (cols - 13.5) ** 2).sqrt()
centre, ring = zero[radius < 3].mean(), zero[(radius >= 6) & (radius < 10)].mean()
print(f"template of 0: {centre:+.3f} at the centre, {ring:+.3f} on the ring")
assert 0.85 < linear_accuracy < 0.95, linear_accuracy
assert centre < 0 < ring
