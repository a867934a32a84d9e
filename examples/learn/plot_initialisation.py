"""
===============================================
Initialisation: why the starting weights matter
===============================================

Training starts from some weights, and gradient descent only ever moves them a little at
a time. The starting point matters more than it seems: with all weights at zero, a
network with a hidden layer cannot learn at all, and with weights of the wrong size a deep
network's signals die out or blow up before training begins. This example shows the first
with a real run that gets stuck, and the second by measuring the signal through twenty
layers, where the initialisations of Glorot and Bengio ("Xavier") and of He and others
come from.
"""

# %%
# Zero weights: a run that gets stuck
# -----------------------------------
#
# The network is a perceptron with one hidden layer of 100 ReLU units, trained for one
# epoch on 10,000 digits, three times: from PyTorch's default random weights, from all
# weights and biases at zero, and from all weights at the same small constant, 0.01.
import matplotlib.pyplot as plt
import torch
from torch import nn

import mnistkit

mnist = mnistkit.datasets.load("mnist")
train = mnist.train.subset(slice(0, 10_000))
val = mnist.train.subset(slice(50_000, 55_000))
config = mnistkit.TrainConfig(
    epochs=1,
    batch_size=64,
    optimizer="momentum",
    lr=0.05,
    schedule="none",
    progress=False,
)


def perceptron(start):
    """A 784-100-10 perceptron, its parameters set by ``start`` unless it is None."""
    model = mnistkit.get_model("mlp", hidden_sizes=(100,), dropout=0.0)
    if start is not None:
        with torch.no_grad():
            for layer in model.modules():
                if isinstance(layer, nn.Linear):
                    layer.weight.fill_(start)
                    layer.bias.zero_()
    return model


models, accuracy = {}, {}
for name, start in (("random (default)", None), ("zeros", 0.0), ("all 0.01", 0.01)):
    mnistkit.seed_everything(0)
    models[name] = perceptron(start)
    history = mnistkit.Trainer(models[name], config).fit(train, val=val)
    accuracy[name] = history.val_accuracy[-1]
    print(
        f"{name:>16}: validation accuracy {accuracy[name]:.1%}, "
        f"training loss {history.train_loss[-1]:.3f}"
    )

# %%
# From zeros the network is stuck: it answers the same digit for every image, which is
# right about one time in ten. Every hidden unit computes
# :math:`\operatorname{ReLU}(0) = 0`. The output weights' gradients are the output error
# times these zeros, so they stay 0, and the error carried back to the hidden layer is the
# output error times the output weights, 0 again. Only the output biases learn: they
# learn how common each digit is, and nothing about the image.
stuck = models["zeros"]
hidden_weights = [m.weight for m in stuck.modules() if isinstance(m, nn.Linear)]
assert all(bool((w == 0).all()) for w in hidden_weights)
answers = mnistkit.predict(stuck, val.images).unique()
print("digits the zero-started network answers:", answers.tolist())
assert len(answers) == 1 and accuracy["zeros"] < 0.15
assert accuracy["random (default)"] > 0.9

# %%
# From a constant other than 0, the weights do move, but every hidden unit starts the
# same as every other, receives the same input and the same error, and so gets the same
# gradient: in exact arithmetic the units stay copies of each other for ever, and however
# many there are, the layer works like a single unit. (In floating point, rounding makes
# them differ in the ninth decimal place, and the differences grow only slowly.) The
# correlation between two units' weights, averaged over all pairs, shows it: close to 1
# for the units started alike, close to 0 for the random start. Random starting weights
# break this *symmetry*; that, not their particular values, is their first job.


def unit_correlation(model):
    """Mean correlation of the first-layer weights of two different hidden units."""
    weight = next(m for m in model.modules() if isinstance(m, nn.Linear)).weight
    corr = torch.corrcoef(weight.detach())
    return (corr.sum() - corr.diagonal().sum()).item() / (len(corr) * (len(corr) - 1))


for name in ("random (default)", "all 0.01"):
    print(
        f"{name:>16}: mean correlation of two units "
        f"{unit_correlation(models[name]):.3f}"
    )
assert unit_correlation(models["all 0.01"]) > 0.9
assert abs(unit_correlation(models["random (default)"])) < 0.1
assert accuracy["all 0.01"] < accuracy["random (default)"] - 0.2

# %%
# The size of random weights
# --------------------------
#
# A layer's weighted input sums :math:`n` inputs times :math:`n` random weights. If the
# inputs have variance :math:`v` and the weights variance :math:`\sigma^2`, the sum has
# variance about :math:`n \sigma^2 v`. So a layer keeps the size of its signal only if
# :math:`\sigma^2 \approx 1/n`; larger weights make it grow at every layer, smaller ones
# make it shrink, exponentially in the depth.
#
# * *Xavier* (or Glorot) initialisation takes :math:`\sigma^2 = 2 / (n_\text{in} +
#   n_\text{out})`, which keeps both the forward signal and the backward error the same
#   size, for activations such as tanh that are close to the identity around 0.
# * *He* (or Kaiming) initialisation takes :math:`\sigma^2 = 2 / n_\text{in}`: ReLU sets
#   half of its inputs to zero and so halves the signal's second moment, and the 2 makes
#   up for it.
#
# Here 1,000 normalised digits go through twenty fully connected ReLU layers of 256 units,
# with the weights drawn four ways, and the size (standard deviation) of each layer's
# output is measured.
x = mnist.train.images[:1000].float().flatten(1) / 255
x = (x - 0.1307) / 0.3081
width, depth = 256, 20
rules = {
    "N(0, 1)": lambda w: nn.init.normal_(w, std=1.0),
    "PyTorch default": lambda w: nn.init.kaiming_uniform_(w, a=5**0.5),
    "Xavier": nn.init.xavier_normal_,
    "He": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
}
sizes = {}
for name, rule in rules.items():
    torch.manual_seed(0)
    a, stds = x, []
    with torch.no_grad():
        for _ in range(depth):
            w = torch.empty(width, a.shape[1])
            rule(w)
            a = torch.relu(a @ w.T)
            stds.append(a.std().item())
    sizes[name] = stds
    print(
        f"{name:>16}: output size after layer 1 {stds[0]:.3g}, after 20 {stds[-1]:.3g}"
    )

fig, ax = plt.subplots(figsize=(6, 4))
for name, stds in sizes.items():
    ax.semilogy(range(1, depth + 1), stds, "o-", ms=3, label=name)
ax.set(
    xlabel="layer",
    ylabel="standard deviation of the output",
    title="The signal through 20 ReLU layers, by initialisation",
    xticks=[1, 5, 10, 15, 20],
)
ax.legend()

# %%
# Only He's weights keep the signal's size through all twenty layers. With unit-variance
# weights it grows about 11-fold per layer (:math:`\sqrt{256 / 2}`), to numbers that
# overflow long before a real network's depth; Xavier's lose a factor :math:`\sqrt{2}`
# per layer to the ReLU, and PyTorch's default for ``nn.Linear``, which has variance
# :math:`1 / (3 n_\text{in})`, loses a factor :math:`\sqrt{6}`. The error flowing
# backwards meets the same factors, so the first layers of a deep network started that way
# barely learn. In the shallow networks of mnistkit the default is good enough; batch
# normalisation (:ref:`sphx_glr_auto_examples_learn_plot_batch_norm_and_augmentation.py`)
# and residual connections make deep networks far less sensitive to it.
expected = {
    "N(0, 1)": (width / 2) ** 0.5,
    "PyTorch default": 6**-0.5,
    "Xavier": 2**-0.5,
    "He": 1.0,
}
for name, stds in sizes.items():
    factor = (stds[-1] / stds[0]) ** (1 / (depth - 1))
    print(f"{name:>16}: x{factor:.3f} per layer (expected x{expected[name]:.3f})")
    assert abs(factor / expected[name] - 1) < 0.1
