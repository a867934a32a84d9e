"""
===================================
Overfitting, and dropout against it
===================================

A network with enough parameters can learn its training images by heart instead of
learning what makes a digit a digit. It then keeps getting better on the images it trains
on and worse on new ones: it *overfits*. The only way to see it is to measure on images
the network does not train on, a *validation* set, after every epoch. Here we make a
perceptron overfit on purpose, watch it happen in the learning curves, and see how much
*dropout* holds it back.
"""

# %%
# Few images, many parameters
# ---------------------------
#
# The ``mlp`` has 235,146 parameters. We give it only the first 1,000 training images,
# and hold out 5,000 others from the end of the training split for validation; the test
# set stays untouched. The learning rate is constant (``schedule="none"``), so that the
# curves show what the model does, not what a schedule does.
import matplotlib.pyplot as plt

import mnistkit

mnist = mnistkit.datasets.load("mnist")
train = mnist.train.subset(slice(0, 1_000))
val = mnist.train.subset(slice(50_000, 55_000))
config = mnistkit.TrainConfig(
    epochs=40, batch_size=64, optimizer="adamw", lr=1e-3, schedule="none"
)
print(len(train), "training images,", len(val), "validation images")

# %%
# Train with and without dropout
# ------------------------------
#
# *Dropout* sets each hidden unit's output to 0 with probability ``p`` at every training
# step, a different random choice each time, and scales the survivors by
# :math:`1 / (1 - p)` so that their sum keeps its size. No unit can count on any other
# being there, so the network cannot lean on a few units that memorise particular images.
# In evaluation mode (validation, test, prediction) nothing is dropped. mnistkit's ``mlp``
# uses ``dropout=0.1`` by default and its ``cnn`` 0.25; here we compare none with 0.5.
histories = {}
for p in (0.0, 0.5):
    mnistkit.seed_everything(0)
    model = mnistkit.get_model("mlp", dropout=p)
    histories[p] = mnistkit.Trainer(model, config).fit(train, val=val)


def best_epoch(history):
    """The epoch (from 1) with the lowest validation loss."""
    return min(history.epochs, key=lambda e: history.val_loss[e - 1])


for p, history in histories.items():
    print(
        f"dropout {p}: accuracy {history.train_accuracy[-1]:.1%} on training, "
        f"{history.val_accuracy[-1]:.1%} on validation\n"
        f"  validation loss: lowest {min(history.val_loss):.3f} at epoch "
        f"{best_epoch(history)}, last {history.val_loss[-1]:.3f}"
    )

# %%
# The learning curves
# -------------------
#
# The training loss (measured during each epoch) and the validation loss (measured after
# it), on a logarithmic scale. Without dropout the training loss falls towards 0: the
# network gets every training image right, with growing confidence. The validation loss
# falls for a few epochs, then *rises*: from there on, each step that fits the training
# images better makes the network more confidently wrong on new ones. The gap between the
# two curves is the overfitting.
fig, axes = plt.subplots(2, 1, figsize=(6, 6.5), sharex=True, sharey=True)
for ax, (p, history) in zip(axes, histories.items(), strict=True):
    ax.plot(history.epochs, history.train_loss, label="training loss")
    ax.plot(history.epochs, history.val_loss, label="validation loss")
    ax.axvline(
        best_epoch(history), color="grey", ls=":", label="lowest validation loss"
    )
    ax.set(yscale="log", ylabel="cross-entropy", title=f"dropout {p}")
    ax.grid(alpha=0.3)
axes[0].legend()
axes[1].set_xlabel("epoch")
fig.suptitle("1,000 training images, 40 epochs")
fig.tight_layout()
plt.show()

plain, dropped = histories[0.0], histories[0.5]
# without dropout: every training image right, validation loss up after an early minimum
assert plain.train_accuracy[-1] > 0.999
assert best_epoch(plain) <= 10 and plain.val_loss[-1] > 1.2 * min(plain.val_loss)
assert plain.train_loss[-1] < 0.01 < 0.1 < plain.val_loss[-1]

# %%
# With dropout 0.5 the training loss stays higher (half of the hidden units are missing at
# every step), the validation loss reaches a lower minimum, later, and rises less after
# it. Dropout does not remove the overfitting, it holds it back: the network still sees
# only 1,000 digits.
assert dropped.train_loss[-1] > plain.train_loss[-1]
assert min(dropped.val_loss) < min(plain.val_loss)
assert best_epoch(dropped) > best_epoch(plain)
assert dropped.val_loss[-1] < plain.val_loss[-1]
assert dropped.val_accuracy[-1] > plain.val_accuracy[-1]

# %%
# What to do about it
# -------------------
#
# * **Watch it.** Always validate on held-out images. ``mnistkit train`` holds out 10% of
#   the training split by default (``--val-fraction``) and draws both curves in
#   ``history.png``; in Python, :func:`~mnistkit.train_val_split` does the same.
# * **Keep the best epoch.** :class:`~mnistkit.EarlyStopping` stops when the validation
#   loss has not improved for ``patience`` epochs, and :class:`~mnistkit.ModelCheckpoint`
#   keeps the model file of the best epoch.
# * **Regularise.** Dropout (``get_model("mlp", dropout=...)``), weight decay
#   (``TrainConfig(weight_decay=...)``) or a smaller model make memorising harder.
# * **More data** helps most: trained on 54,000 images for 8 epochs, the default ``mlp``
#   reaches 99.6% training and 98.0% validation accuracy, a gap of under two points
#   (measured in :doc:`/user_guide/hyperparameters`).
#
# The validation set is used to make these choices, so its score is no longer an honest
# estimate for new digits; that is what the test set, used once at the end, is for.
