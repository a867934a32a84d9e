"""
============================
Backpropagation from scratch
============================

PyTorch computes gradients for us, which makes it easy to forget what
``loss.backward()`` actually does. This example takes the lid off: we derive
the gradients of a small fully connected network by hand, check them against
finite differences and against :mod:`torch.autograd`, train the NumPy network
:class:`~mnistkit.scratch.NumpyMLP` on real MNIST digits, and compare its
learning curve with that of the same network written in PyTorch.
"""

# %%
# The data
# --------
# Each 28x28 image becomes one row of 784 pixel values, scaled from the
# ``uint8`` range 0-255 to floats in [0, 1]. To keep the example fast we train
# on the first 20,000 of the 60,000 training images and follow the learning on
# the next 5,000, a validation set the networks never train on. The 10,000 test
# images are used once, at the end.

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import mnistkit
from mnistkit.scratch import NumpyMLP, numerical_gradient, relative_error

torch.manual_seed(0)
mnist = mnistkit.datasets.load("mnist")
n_train, n_val = 20_000, 5_000


def as_rows(images: torch.Tensor) -> np.ndarray:
    """uint8 images (N, 28, 28) -> float32 rows (N, 784) in [0, 1]."""
    return images.reshape(len(images), 784).numpy().astype(np.float32) / 255


X_train, y_train = (
    as_rows(mnist.train.images[:n_train]),
    mnist.train.labels[:n_train].numpy(),
)
X_val = as_rows(mnist.train.images[n_train : n_train + n_val])
y_val = mnist.train.labels[n_train : n_train + n_val].numpy()
X_test, y_test = as_rows(mnist.test.images), mnist.test.labels.numpy()
print(f"train {X_train.shape}, validation {X_val.shape}, test {X_test.shape}")

# %%
# The forward pass
# ----------------
# Samples are the rows of a batch :math:`X` of shape ``(N, 784)``, so one
# matrix product pushes the whole batch through a layer. Layer :math:`l` has
# weights :math:`W_l` of shape ``(fan_in, fan_out)`` and biases :math:`b_l`:
#
# .. math::
#
#     a_0 = X, \qquad z_l = a_{l-1} W_l + b_l, \qquad a_l = f(z_l),
#     \qquad p = \operatorname{softmax}(z_L),
#
# where :math:`f` is the hidden activation (ReLU here) and the softmax turns
# the last layer's outputs :math:`z_L` (the *logits*) into class
# probabilities, one row per image.
#
# This is the notation of the code, a batch in the rows. The
# :doc:`concepts page </concepts>` writes the same equations for one example
# in columns, with :math:`W^l` of shape (out, in): our :math:`W_l` is its
# transpose, and :ref:`a table there <concepts-notation>` maps each symbol of
# one onto the other.

model = NumpyMLP([784, 128, 10], activation="relu", seed=0, dtype=np.float32)
print(model)
print([w.shape for w in model.weights], [b.shape for b in model.biases])
print(model.forward(X_train[:3]).round(3))

# %%
# Loss and cost
# -------------
# The *loss* of one sample is the cross-entropy of its true class,
# :math:`\ell_i = -\log p_{i, y_i}`: zero for a confident right answer, large
# for a confident wrong one. The *cost* of a batch is the mean of its losses,
# :math:`C = \frac{1}{N} \sum_i \ell_i`, and it is the cost that gradient
# descent lowers. An untrained network is guessing, so its losses are of the
# order of :math:`\log 10 \approx 2.3`, the loss of a uniform guess over ten
# classes.

print("losses of 5 samples:", model.sample_losses(X_train[:5], y_train[:5]).round(2))
print(f"cost of the batch:   {model.loss(X_train[:5], y_train[:5]):.2f}")

# %%
# The backward pass
# -----------------
# Write :math:`\delta_l = \partial C / \partial z_l`. For one sample,
# :math:`\ell = -z_{y} + \log \sum_k e^{z_k}`, so
# :math:`\partial \ell / \partial z_k = p_k - [k = y]`: the softmax and the
# logarithm cancel into a strikingly simple error. Averaging over the batch
# divides by :math:`N`:
#
# .. math::
#
#     \delta_L = \frac{1}{N} \bigl(p - \operatorname{onehot}(y)\bigr).
#
# Because :math:`z_l = a_{l-1} W_l + b_l`, the chain rule gives the gradients
# of a layer's parameters from its :math:`\delta`, and passes the error on to
# the layer below through the same weights, transposed, times the slope of
# the activation:
#
# .. math::
#
#     \frac{\partial C}{\partial W_l} = a_{l-1}^\top \delta_l, \qquad
#     \frac{\partial C}{\partial b_l} = \sum_i \delta_{l, i}, \qquad
#     \delta_{l-1} = \bigl(\delta_l W_l^\top\bigr) \odot f'(z_{l-1}).
#
# For ReLU, :math:`f'(z)` is 1 where :math:`z > 0` and 0 elsewhere. These
# three lines are all of :meth:`~mnistkit.scratch.NumpyMLP.backward`.
#
# Checking the gradients
# ----------------------
# Two independent checks, on a small network in float64. Central finite
# differences nudge every parameter by :math:`\pm\varepsilon` and measure how
# the cost changes; :mod:`torch.autograd` differentiates the same network
# with the same weights. :func:`~mnistkit.scratch.relative_error` divides the
# largest disagreement by the largest gradient.

X_check, y_check = X_train[:4].astype(np.float64), y_train[:4]
small = NumpyMLP([784, 8, 10], activation="relu", seed=0)
grad_weights, grad_biases = small.backward(X_check, y_check)
ours = [*grad_weights, *grad_biases]

numeric_weights, numeric_biases = numerical_gradient(small, X_check, y_check, eps=1e-6)
numeric = [*numeric_weights, *numeric_biases]

W1, W2, b1, b2 = (
    torch.tensor(p, requires_grad=True) for p in [*small.weights, *small.biases]
)
logits = torch.relu(torch.from_numpy(X_check) @ W1 + b1) @ W2 + b2
cost = nn.functional.cross_entropy(logits, torch.from_numpy(y_check))
autograd = [g.numpy() for g in torch.autograd.grad(cost, [W1, W2, b1, b2])]

vs_numeric = max(map(relative_error, ours, numeric))
vs_autograd = max(map(relative_error, ours, autograd))
print(f"vs finite differences: {vs_numeric:.1e}")
print(f"vs torch.autograd:     {vs_autograd:.1e}")
assert vs_numeric < 1e-6 and vs_autograd < 1e-10, (vs_numeric, vs_autograd)

# %%
# Why not the perceptron's step unit?
# -----------------------------------
# The first neural networks used a threshold: output 1 if :math:`z > 0`,
# else 0. Its derivative is zero everywhere except at 0, where it does not
# exist, so every :math:`\delta` below the output layer is zero. Finite
# differences agree: nudging a hidden weight never flips a unit, so the cost
# does not move. ``NumpyMLP`` runs such a network forward but refuses to
# train it.

step_net = NumpyMLP([784, 8, 10], activation="threshold", seed=0)
step_weights, _ = numerical_gradient(step_net, X_check, y_check)
print("non-zero gradients, hidden layer:", np.count_nonzero(step_weights[0]))
print("non-zero gradients, output layer:", np.count_nonzero(step_weights[1]))
assert np.count_nonzero(step_weights[0]) == 0
try:
    step_net.backward(X_check, y_check)
except mnistkit.ConfigError as error:
    print(textwrap.fill(str(error), width=80))
else:
    raise AssertionError("NumpyMLP trained a threshold network")

# %%
# Training on MNIST
# -----------------
# Minibatch stochastic gradient descent: shuffle, then for every batch of 64
# images run :meth:`~mnistkit.scratch.NumpyMLP.backward` and step every
# parameter against its gradient, :math:`W \leftarrow W - \eta\, \partial C /
# \partial W`. Before training, we copy the initial weights into an
# equivalent PyTorch network, so that both start from the same point.

epochs, lr, batch_size = 10, 0.2, 64

torch_model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
with torch.no_grad():
    for linear, w, b in zip(torch_model[::2], model.weights, model.biases, strict=True):
        linear.weight.copy_(torch.from_numpy(w.T))  # nn.Linear stores (fan_out, fan_in)
        linear.bias.copy_(torch.from_numpy(b))

history = model.fit(
    X_train,
    y_train,
    epochs=epochs,
    lr=lr,
    batch_size=batch_size,
    seed=0,
    X_val=X_val,
    y_val=y_val,
)
print(f"NumpyMLP validation accuracy: {history.val_accuracy[-1]:.4f}")

# %%
# The same network in PyTorch
# ---------------------------
# A plain training loop with the same hyperparameters. It even visits the
# images in the same order: ``NumpyMLP.fit`` shuffles each epoch with
# ``numpy.random.default_rng(seed).permutation``, and so do we.

optimizer = torch.optim.SGD(torch_model.parameters(), lr=lr)
X_train_t, y_train_t = torch.from_numpy(X_train), torch.from_numpy(y_train)
X_val_t, y_val_t = torch.from_numpy(X_val), torch.from_numpy(y_val)
rng = np.random.default_rng(0)
torch_cost, torch_accuracy = [], []
for _ in range(epochs):
    total = 0.0
    for batch in torch.from_numpy(rng.permutation(n_train)).split(batch_size):
        loss = nn.functional.cross_entropy(
            torch_model(X_train_t[batch]), y_train_t[batch]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    torch_cost.append(total / n_train)
    with torch.no_grad():
        predicted = torch_model(X_val_t).argmax(dim=1)
    torch_accuracy.append((predicted == y_val_t).float().mean().item())
print(f"PyTorch validation accuracy:  {torch_accuracy[-1]:.4f}")

# %%
# Learning curves
# ---------------
# The training cost is the mean loss over each epoch's batches, measured as
# they were trained on; the validation accuracy is measured after each epoch.
# The two curves lie on top of each other: from the same start, on the same
# batches, the hand-derived gradients take the same steps as autograd's, up
# to float32 rounding.

epoch_numbers = np.arange(1, epochs + 1)
fig, (ax_cost, ax_accuracy) = plt.subplots(2, 1, figsize=(6, 6.5), layout="constrained")
ax_cost.plot(epoch_numbers, history.train_cost, "o-", label="NumpyMLP (from scratch)")
ax_cost.plot(epoch_numbers, torch_cost, "x--", label="PyTorch nn.Sequential")
ax_cost.set(title="Training cost", xlabel="epoch", ylabel="mean cross-entropy")
ax_cost.legend()
ax_accuracy.plot(
    epoch_numbers, history.val_accuracy, "o-", label="NumpyMLP (from scratch)"
)
ax_accuracy.plot(epoch_numbers, torch_accuracy, "x--", label="PyTorch nn.Sequential")
ax_accuracy.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy")
ax_accuracy.legend()
plt.show()

cost_gap = np.abs(np.array(history.train_cost) - np.array(torch_cost)).max()
accuracy_gap = np.abs(np.array(history.val_accuracy) - np.array(torch_accuracy)).max()
print(f"largest gap: cost {cost_gap:.1e}, validation accuracy {accuracy_gap:.1e}")
assert cost_gap < 1e-3 and accuracy_gap < 5e-3, (cost_gap, accuracy_gap)

# %%
# The test set
# ------------
# Finally, once, both networks on the 10,000 test images: the same accuracy, to
# within a few tenths of a percent.
numpy_test = float((model.predict(X_test) == y_test).mean())
with torch.no_grad():
    torch_test = float(
        (torch_model(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean()
    )
print(f"test accuracy: NumpyMLP {numpy_test:.4f}, PyTorch {torch_test:.4f}")
assert abs(numpy_test - torch_test) < 5e-3, (numpy_test, torch_test)

# %%
# Exercises
# ---------
# Each answer is hidden until you open it.
#
# 1. For a batch of :math:`N = 64` images through ``NumpyMLP([784, 128, 10])``,
#    what are the shapes of :math:`\delta_2`, :math:`\partial C / \partial W_2`,
#    :math:`\delta_1`, :math:`\partial C / \partial W_1` and
#    :math:`\partial C / \partial b_1`?
#
#    .. answer::
#
#       :math:`\delta_2`: (64, 10), one row per image and one column per class;
#       :math:`\partial C / \partial W_2 = a_1^\top \delta_2`: (128, 10), the
#       shape of :math:`W_2`; :math:`\delta_1`: (64, 128);
#       :math:`\partial C / \partial W_1`: (784, 128); and
#       :math:`\partial C / \partial b_1`: (128,). Every gradient has the shape of
#       its parameter, and the batch dimension disappears in the products with
#       :math:`a^\top` and in the sums over rows.
#
# 2. :math:`\delta_L` includes the :math:`1/N` of the batch mean. What would
#    leaving it out do to training with plain gradient descent at
#    :math:`\eta = 0.2` and batches of 64?
#
#    .. answer::
#
#       Every gradient would be 64 times larger: the gradient of the summed
#       cost instead of the mean. For plain gradient descent that is the same
#       as a learning rate of :math:`0.2 \cdot 64 = 12.8`, far too large, and the
#       step size would also change with the batch size.
#
# 3. How many times did :func:`~mnistkit.scratch.numerical_gradient` evaluate
#    the cost of the small ``[784, 8, 10]`` network above, and how many
#    passes does backpropagation need for the same gradients?
#
#    .. answer::
#
#       The network has :math:`784 \cdot 8 + 8 + 8 \cdot 10 + 10 = 6{,}370`
#       parameters, and central differences evaluate the cost twice per
#       parameter: 12,740 forward passes. Backpropagation needs one forward
#       and one backward pass, whatever the number of parameters: that is
#       why it, and not finite differences, trains networks.
#
# 4. Swap ReLU for the sigmoid (``activation="sigmoid"``). Which of the three
#    backward equations changes, and why might training slow down?
#
#    .. answer::
#
#       Only the one that carries the error back, through :math:`f'(z)`, which
#       becomes :math:`\sigma(z)(1 - \sigma(z))`: at most 0.25, and close to 0
#       when a unit saturates. Every sigmoid layer the error crosses multiplies
#       it by that small factor, so the lower layers tend to learn more slowly.
#       Train both networks above for the same epochs and compare their curves.
