"""
===============================================
Linear, multi-layer perceptron and CNN compared
===============================================

Three of mnistkit's models, trained the same way on the same images: softmax regression
(``"linear"``), a multi-layer perceptron (``"mlp"``) and a convolutional network
(``"cnn"``). We compare what each costs (parameters, training time) with what it buys
(test accuracy), and how fast each learns.
"""

# %%
# The models
# ----------
#
# All three map a 28×28 image to ten scores, one per digit.
#
# * ``linear`` multiplies the 784 pixels by one weight matrix: each digit's score is a
#   weighted sum of pixels plus a bias. It can only draw straight boundaries between classes.
# * ``mlp`` adds two hidden layers of 256 and 128 units with a ReLU non-linearity between
#   them, so it can combine pixels into features and features into digits.
# * ``cnn`` first slides small 3×3 filters over the image, so the same stroke detector is
#   reused at every position, then pools and classifies the resulting feature maps.
import time

import matplotlib.pyplot as plt

import mnistkit

names = ["linear", "mlp", "cnn"]
for name in names:
    model = mnistkit.get_model(name)
    print(f"{name:>6}: {mnistkit.summary(model).total_params:>8,} parameters")

# %%
# Train each one
# --------------
#
# The same 4,000 or so training images, three epochs, the same optimiser and schedule, and
# the same seed. :func:`~mnistkit.train_val_split` takes the first 5,000 training images and
# holds a fifth of each digit out of training; after every epoch the
# :class:`~mnistkit.Trainer` measures loss and accuracy on those 1,000 validation images,
# and the records make the learning curves below. The test set is used once per model, at
# the end. A small training set keeps this page fast and also makes the differences
# between the models larger than they are with all 60,000 images.
mnist = mnistkit.datasets.load("mnist")
train, val = mnistkit.train_val_split(
    mnist.train.subset(slice(0, 5_000)), val_fraction=0.2
)
print(len(train), "training and", len(val), "validation images")
config = mnistkit.TrainConfig(epochs=3, batch_size=64)

results = {}
for name in names:
    mnistkit.seed_everything(0)
    trainer = mnistkit.Trainer(mnistkit.get_model(name), config)
    started = time.perf_counter()
    history = trainer.fit(train, val=val)
    seconds = time.perf_counter() - started
    report = trainer.evaluate(mnist.test)
    results[name] = {
        "history": history,
        "seconds": seconds,
        "accuracy": report.accuracy,
        "parameters": mnistkit.summary(trainer.model).total_params,
    }
    print(f"{name:>6}: test accuracy {report.accuracy:.2%} in {seconds:.1f} s")

accuracy = {name: result["accuracy"] for name, result in results.items()}
assert accuracy["cnn"] > accuracy["mlp"] > accuracy["linear"], accuracy

# %%
# Accuracy against cost
# ---------------------
#
# The CNN is the largest model, but its size is not what makes it better: almost all of its
# parameters sit in its fully connected layer. What helps is that its convolution weights
# are *shared* across the image, which builds in the fact that a stroke means the same
# thing wherever it is; the perceptron has to learn that separately for every position.
assert max(results, key=lambda name: results[name]["parameters"]) == "cnn"
fig, axes = plt.subplots(2, 1, figsize=(6, 6.5), sharey=True, layout="constrained")
for ax, key in zip(axes, ["parameters", "seconds"], strict=True):
    for name, result in results.items():
        ax.scatter(result[key], result["accuracy"], s=60, label=name)
    ax.grid(alpha=0.3)
axes[0].set(xscale="log", xlabel="parameters (log scale)", ylabel="test accuracy")
axes[0].set_title("Accuracy and model size")
axes[1].set(
    xlabel="training time on this machine (s)", title="Accuracy and training time"
)
axes[1].legend()
plt.show()

# %%
# Learning curves
# ---------------
#
# Validation loss and accuracy after each epoch. All three are still improving on so few
# images, but the order is set from the first epoch, and more data does not close the
# gaps: with all 60,000 images and a few more epochs the CNN passes 99%, the perceptron
# reaches about 98%, and softmax regression stays near 92%, about as far as one linear
# template per digit can go.
fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=(6, 6.5), layout="constrained")
# sphinx_gallery_thumbnail_number = 2
for name, result in results.items():
    history = result["history"]
    ax_loss.plot(history.epochs, history.val_loss, marker="o", label=name)
    ax_acc.plot(history.epochs, history.val_accuracy, marker="o", label=name)
ax_loss.set(xlabel="epoch", ylabel="validation loss", title="Loss: lower is better")
ax_acc.set(
    xlabel="epoch", ylabel="validation accuracy", title="Accuracy: higher is better"
)
ax_acc.legend()
plt.show()

first_epoch = {
    name: result["history"].val_accuracy[0] for name, result in results.items()
}
assert first_epoch["cnn"] > first_epoch["mlp"] > first_epoch["linear"], first_epoch
for name, result in results.items():
    assert result["history"].val_accuracy[-1] > result["history"].val_accuracy[0], name

# %%
# The full training curves of one run, training and validation side by side, are one call
# away with :meth:`History.plot() <mnistkit.History.plot>` (or
# :func:`~mnistkit.plotting.plot_history`). Training accuracy is measured while the
# weights still change within the epoch (and with dropout on), so it trails validation
# accuracy early on.
cnn_history = results["cnn"]["history"]
fig = cnn_history.plot()
assert cnn_history.train_accuracy[0] < cnn_history.val_accuracy[0]
