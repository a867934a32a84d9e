"""
============================================
A baseline that learns nothing: nearest mean
============================================

Before training a network, it is worth knowing how far a method with no learning at all
gets. Average the training images of each digit, then call a new image the digit whose
average it is closest to, pixel by pixel. This is the "pixel similarity" baseline of
fast.ai's course. Any model worth training must beat it; how much it beats it by is what
learning adds.
"""

# %%
# Ten mean images
# ---------------
#
# Pixels are scaled to :math:`[0, 1]`, and each digit's mean is taken over its roughly
# 6,000 training images. Nothing else is computed from the data.
import matplotlib.pyplot as plt
import torch

import mnistkit

mnistkit.seed_everything(0)
mnist = mnistkit.datasets.load("mnist")
train_images = mnist.train.images.float().flatten(1) / 255  # (60000, 784)
test_images = mnist.test.images.float().flatten(1) / 255
means = torch.stack([train_images[mnist.train.labels == d].mean(0) for d in range(10)])

fig, axes = plt.subplots(2, 5, figsize=(6, 2.9))
for digit, ax in enumerate(axes.flat):
    ax.imshow(means[digit].reshape(28, 28), cmap="gray_r")
    ax.set(title=str(digit), xticks=[], yticks=[])
fig.suptitle("The ten mean training images: the whole 'model'")

# %%
# Classify by the nearest mean
# ----------------------------
#
# The distance between two images is the Euclidean distance between their 784 pixel
# values. Each test image gets the digit whose mean is nearest.
distances = torch.cdist(test_images, means)  # (10000, 10)
predicted = distances.argmin(1)
accuracy = (predicted == mnist.test.labels).float().mean().item()
print(f"nearest mean: {accuracy:.2%} of the 10,000 test images right")
assert 0.75 < accuracy < 0.85

# %%
# Far better than the 10% of guessing, and far from the 99% of a small network. The
# accuracy per digit shows where it fails: the ones are easy (every one is a stroke in
# the middle), while fives, which are written in many shapes, are often nearer the mean of
# another digit.
report = mnistkit.metrics.Report.from_predictions(predicted, mnist.test.labels)
per_digit = torch.as_tensor(report.recall)
for digit in range(10):
    print(f"digit {digit}: {per_digit[digit]:.1%}")
assert per_digit.argmax() == 1 and per_digit[1] > 0.95 and per_digit[5] < 0.75

# %%
# It is already a linear model
# ----------------------------
#
# Expanding the squared distance, :math:`\lVert x - m_k \rVert^2 = \lVert x \rVert^2 -
# 2\, m_k \cdot x + \lVert m_k \rVert^2`. The first term is the same for every class, so
# the nearest mean is the class with the largest score :math:`m_k \cdot x - \tfrac{1}{2}
# \lVert m_k \rVert^2`: a neuron per class with the mean image as its weights and minus
# half its squared length as its bias. Softmax regression (``linear``) computes scores of
# exactly this form; the difference is that training *chooses* the weights to separate the
# digits rather than to describe them.
scores = test_images @ means.T - 0.5 * (means**2).sum(1)
assert torch.equal(scores.argmax(1), predicted)

# %%
# What learning adds
# ------------------
#
# Softmax regression, trained for a single epoch on the same 60,000 images, is a linear
# model of the same size. Its weights are learnt from the errors instead of averaged.
trainer = mnistkit.Trainer(
    mnistkit.get_model("linear"), mnistkit.TrainConfig(epochs=1, progress=False)
)
trainer.fit(mnist.train)
learnt = trainer.evaluate(mnist.test).accuracy
print(f"softmax regression, one epoch: {learnt:.2%}")
print(f"nearest mean:                  {accuracy:.2%}")
assert learnt > accuracy + 0.05

fig = mnistkit.plotting.plot_weights(trainer.model)
fig.suptitle("Learnt weights: red raises the digit's score, blue lowers it")

# %%
# The learnt weights look less like digits than the means do: they also have negative
# parts (blue), pixels whose ink speaks *against* a digit, such as the middle of a zero.
# A hidden layer (:ref:`sphx_glr_auto_examples_learn_plot_training_loop.py`) and
# convolutions (:ref:`sphx_glr_auto_examples_learn_plot_what_a_cnn_sees.py`) take the
# accuracy the rest of the way.
