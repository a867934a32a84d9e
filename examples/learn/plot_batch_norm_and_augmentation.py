"""
===================================================
Batch normalisation and data augmentation, measured
===================================================

mnistkit's ``default`` recipe puts batch normalisation into its convolutional network, and
the ``best`` recipe also trains on randomly moved and distorted copies of the digits.
What does each do, and how much does it change on MNIST? Small networks, trained for a few
seconds each on part of the data, show both effects; the validation images are 3,000
training images that none of the runs trains on.
"""

# %%
# What batch normalisation computes
# ---------------------------------
#
# A batch-norm layer takes each channel of its input over the whole mini-batch (every
# image and every position), subtracts the channel's mean and divides by its standard
# deviation, then multiplies by a learnt scale :math:`\gamma` and adds a learnt shift
# :math:`\beta`:
#
# .. math::
#
#    \hat x = \frac{x - \mu_\text{batch}}{\sqrt{\sigma^2_\text{batch} + \epsilon}},
#    \qquad y = \gamma \hat x + \beta.
#
# However the weights before it change during training, the next layer receives values
# of a size the network chooses through :math:`\gamma` and :math:`\beta`. In evaluation
# mode the layer uses running averages of the means and deviations seen in training
# instead of the batch's own, so a prediction does not depend on the other images in the
# batch.
#
# The network here is a small version of mnistkit's ``cnn``: two stages of 3×3
# convolution (8 and 16 channels), batch norm, ReLU and max-pooling, then 32 hidden units.
# Its first convolution's eight channels, measured on a batch of 256 digits before and
# after the batch-norm layer (at the start, :math:`\gamma = 1` and :math:`\beta = 0`):
import matplotlib.pyplot as plt
import numpy as np
import torch

import mnistkit
from mnistkit.augment import RandomAffine

mnist = mnistkit.datasets.load("mnist")
val = mnist.train.subset(slice(50_000, 53_000))


def small_cnn(batch_norm):
    return mnistkit.get_model(
        "cnn", channels=(8, 16), hidden=32, dropout=0.0, batch_norm=batch_norm
    )


mnistkit.seed_everything(0)
model = small_cnn(batch_norm=True)
conv, norm = model.features[0], model.features[1]
with torch.no_grad():
    x = model.normalize(mnist.train.images[:256, None].float() / 255)
    before = conv(x).transpose(0, 1).flatten(1)  # (8 channels, all values)
    after = norm(conv(x)).transpose(0, 1).flatten(1)
fig, axes = plt.subplots(1, 2, figsize=(6, 2.8), sharey=True)
for ax, values, title in (
    (axes[0], before, "convolution output"),
    (axes[1], after, "after batch norm"),
):
    ax.errorbar(range(8), values.mean(1), yerr=values.std(1), fmt="o", capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title=title, xlabel="channel", xticks=range(8))
axes[0].set_ylabel("mean ± standard deviation")
assert after.mean(1).abs().max() < 1e-5 and (after.std(1) - 1).abs().max() < 1e-2
assert before.std(1).max() / before.std(1).min() > 2


# %%
# Faster learning
# ---------------
#
# With batch norm a network learns faster at the same learning rate, and tolerates larger
# ones. Each of the two networks, with and without it, is trained for one epoch on 5,000
# digits with SGD with momentum at a learning rate of 0.02, and a callback records the loss
# of every mini-batch.
class BatchLosses(mnistkit.Callback):
    """Keeps the loss of every training batch."""

    def __init__(self):
        self.losses = []

    def on_batch_end(self, run, batch, loss):
        if loss is not None:
            self.losses.append(loss)


train = mnist.train.subset(slice(0, 5_000))
config = mnistkit.TrainConfig(
    epochs=1,
    batch_size=64,
    optimizer="momentum",
    lr=0.02,
    schedule="none",
    log_every=1,
    progress=False,
)
curves, accuracy = {}, {}
for batch_norm in (False, True):
    mnistkit.seed_everything(0)
    recorder = BatchLosses()
    trainer = mnistkit.Trainer(small_cnn(batch_norm), config, callbacks=[recorder])
    trainer.fit(train)
    curves[batch_norm] = np.array(recorder.losses)
    accuracy[batch_norm] = trainer.evaluate(val).accuracy
    print(
        f"batch norm {batch_norm!s:>5}: loss of the last 20 batches "
        f"{curves[batch_norm][-20:].mean():.3f}, "
        f"validation accuracy {accuracy[batch_norm]:.1%}"
    )

fig, ax = plt.subplots(figsize=(6, 3.2))
for batch_norm, label in ((False, "without batch norm"), (True, "with batch norm")):
    smooth = np.convolve(curves[batch_norm], np.ones(5) / 5, mode="valid")
    ax.plot(range(5, len(curves[batch_norm]) + 1), smooth, label=label)
ax.set(
    xlabel="training step (batch of 64)",
    ylabel="training loss (mean of 5)",
    title="One epoch on 5,000 digits, learning rate 0.02",
)
ax.legend()

# %%
# The network with batch norm gets its loss down in fewer steps and ends the epoch with a
# lower loss and more validation digits right. The tolerance for larger learning rates is
# why the ``default`` recipe can train its network in three epochs at AdamW's learning
# rate of 0.01, ten times the one mnistkit gives AdamW when none is chosen.
assert curves[True][-20:].mean() < 0.8 * curves[False][-20:].mean()
assert accuracy[True] > accuracy[False]

# %%
# Data augmentation
# -----------------
#
# Data augmentation shows the network a randomly changed copy of each training image
# every time it sees it: here rotated by up to 10°, shifted by up to 10% of the width and
# scaled by 0.9 to 1.1 (:class:`mnistkit.augment.RandomAffine`). A digit moved or tilted
# a little is the same digit, so the label stays. The network can no longer memorise the
# exact pixels of its training images, and learns what survives such changes instead.
# Five copies of one training digit, as the trainer would draw them:
augment = RandomAffine(degrees=10, translate=0.1, scale=(0.9, 1.1))
digit = mnist.train.images[:1].float()[:, None] / 255  # (1, 1, 28, 28)
generator = torch.Generator().manual_seed(0)
copies = [augment(digit, generator)[0, 0] for _ in range(5)]
fig, axes = plt.subplots(2, 3, figsize=(4.5, 3.4))
titles = ["original"] + [f"copy {i}" for i in range(1, 6)]
for ax, image, title in zip(axes.flat, [digit[0, 0], *copies], titles, strict=True):
    ax.imshow(image, cmap="gray_r")
    ax.set(title=title, xticks=[], yticks=[])
assert all(not torch.equal(c, digit[0, 0]) for c in copies)

# %%
# Augmentation helps most where data is scarce. The same small network with batch norm is
# trained on only 1,000 digits for 15 epochs, with and without augmentation.
few = mnist.train.subset(slice(0, 1_000))
config = mnistkit.TrainConfig(
    epochs=15, batch_size=64, optimizer="adamw", lr=3e-3, progress=False
)
augmented = {}
for name, transform in (("without augmentation", None), ("with augmentation", augment)):
    mnistkit.seed_everything(0)
    trainer = mnistkit.Trainer(small_cnn(batch_norm=True), config, augment=transform)
    trainer.fit(few)
    augmented[name] = (
        trainer.evaluate(few).accuracy,
        trainer.evaluate(val).accuracy,
    )
    print(
        f"{name}: {augmented[name][0]:.1%} on its training images, "
        f"{augmented[name][1]:.1%} on validation"
    )

fig, ax = plt.subplots(figsize=(5, 2.6))
names = list(augmented)
ax.barh(
    names, [100 * (1 - a[1]) for a in augmented.values()], color=["#999999", "#4c72b0"]
)
ax.set(xlabel="validation error (%)", title="1,000 training digits, 15 epochs")
for i, (_, val_acc) in enumerate(augmented.values()):
    ax.text(100 * (1 - val_acc), i, f" {100 * (1 - val_acc):.1f}%", va="center")
ax.set_xlim(0, 1.25 * max(100 * (1 - a[1]) for a in augmented.values()))

# %%
# Without augmentation the network gets (nearly) every training image right and far fewer
# of the new ones: it has partly memorised its 1,000 images. With augmentation it gets
# fewer of its own training images right, since it never sees them twice the same, and
# more of the validation images. On the full 60,000
# the gap is smaller, since there is much more to learn from, but the ``best`` recipe
# still gains from it (:doc:`/accuracy`).
plain, moved = augmented["without augmentation"], augmented["with augmentation"]
assert plain[0] > 0.99 and moved[1] > plain[1]
error_ratio = (1 - moved[1]) / (1 - plain[1])
print(f"validation errors with augmentation: {error_ratio:.0%} of those without")
np.testing.assert_array_less(error_ratio, 0.9)
