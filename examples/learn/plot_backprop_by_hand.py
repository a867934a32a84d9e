"""
==============================
Backpropagation by hand, 2-2-2
==============================

The :doc:`backpropagation equations </concepts/learning>` are four lines, but they are
easiest to believe once every number has been seen. Here a network small enough to draw,
two inputs, two hidden units and two output classes, does one forward pass, one backward
pass and one step of gradient descent on one example, with every number printed. At the
end PyTorch's autograd computes the same gradients its own way, and the example checks
that they agree.
"""

# %%
# The network and the example
# ---------------------------
#
# The hidden layer uses the sigmoid :math:`\sigma(z) = 1 / (1 + e^{-z})`, whose derivative
# :math:`\sigma'(z) = \sigma(z)\,(1 - \sigma(z))` is never 0, so every weight gets a
# gradient. The output layer has the softmax, and the loss is the cross-entropy. The
# weights are chosen by hand, small and of both signs, as a random initialisation would
# make them. The example is :math:`x = (1, 0.5)`, and its true class is :math:`y = 0`,
# the first of the two.
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

x = np.array([1.0, 0.5])
y = 0
W1 = np.array([[0.2, -0.4], [0.6, 0.1]])  # (out, in): row j feeds hidden unit j
b1 = np.array([0.0, 0.1])
W2 = np.array([[0.5, -0.3], [-0.2, 0.7]])
b2 = np.array([0.1, -0.1])
lr = 0.5  # the learning rate, eta


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def show(name, values):
    """Print a vector on one line, a matrix one row per line."""
    rows = np.atleast_2d(values)
    for i, row in enumerate(rows):
        start = f"{name:>9} =" if i == 0 else " " * 11
        print(start, "[" + ", ".join(f"{v:8.4f}" for v in row) + " ]")


# %%
# Forward pass
# ------------
#
# Each hidden unit adds up its weighted inputs and its bias, :math:`z^1 = W^1 x + b^1`,
# and applies the sigmoid. The output layer does the same with the hidden activations,
# :math:`z^2 = W^2 a^1 + b^2`, and the softmax turns its two scores into probabilities.
# The first unit's sum is written out in full; the others are computed the same way.
z1 = W1 @ x + b1
a1 = sigmoid(z1)
print(f"z1[0] = 0.2 * 1.0 + (-0.4) * 0.5 + 0.0 = {z1[0]:.4f}")
show("z1", z1)
show("a1", a1)
z2 = W2 @ a1 + b2
p = np.exp(z2) / np.exp(z2).sum()
loss = -np.log(p[y])
show("z2", z2)
show("p", p)
print(f"     loss = -log p[{y}] = -log {p[y]:.4f} = {loss:.4f}")

# %%
# The network gives the true class less than half of the probability, so the loss is
# above :math:`\log 2 \approx 0.693`, the loss of a 50/50 guess.
assert p[y] < 0.5 and loss > np.log(2)

# %%
# Backward pass
# -------------
#
# The output error is the probabilities minus the one-hot vector of the true class,
# :math:`\delta^2 = p - e_y`. The output layer's gradients follow from it:
# :math:`\partial C / \partial W^2 = \delta^2 (a^1)^\top` and
# :math:`\partial C / \partial b^2 = \delta^2`. The error is carried back through the
# output weights and the sigmoid's slope, :math:`\delta^1 = ((W^2)^\top \delta^2) \odot
# \sigma'(z^1)`, and gives the hidden layer's gradients the same way, with the input
# :math:`x` in place of :math:`a^1`.
e_y = np.eye(2)[y]
delta2 = p - e_y
grad_w2 = np.outer(delta2, a1)
grad_b2 = delta2
slope1 = a1 * (1 - a1)
delta1 = (W2.T @ delta2) * slope1
grad_w1 = np.outer(delta1, x)
grad_b1 = delta1
show("delta2", delta2)
show("dC/grad_w2", grad_w2)
show("dC/grad_b2", grad_b2)
show("W2^T d2", W2.T @ delta2)
show("sigma'", slope1)
show("delta1", delta1)
show("dC/grad_w1", grad_w1)
show("dC/grad_b1", grad_b1)

# %%
# The two entries of :math:`\delta^2` add up to 0, as they always do (the probabilities
# and the one-hot vector both add up to 1): the step raises the true class's score by as
# much as it lowers the other's.
assert abs(delta2.sum()) < 1e-12 and delta2[y] < 0

# %%
# One step of gradient descent
# ----------------------------
#
# Every parameter moves against its gradient, by the learning rate times the gradient.
# The same example, passed forward again, now gets a lower loss.
W1_new, b1_new = W1 - lr * grad_w1, b1 - lr * grad_b1
W2_new, b2_new = W2 - lr * grad_w2, b2 - lr * grad_b2
show("W1 new", W1_new)
show("b1 new", b1_new)
show("W2 new", W2_new)
show("b2 new", b2_new)
a1_new = sigmoid(W1_new @ x + b1_new)
z2_new = W2_new @ a1_new + b2_new
p_new = np.exp(z2_new) / np.exp(z2_new).sum()
loss_new = -np.log(p_new[y])
show("p new", p_new)
print(f"loss {loss:.4f} -> {loss_new:.4f}")
assert loss_new < loss and p_new[y] > p[y]

# %%
# Autograd agrees
# ---------------
#
# PyTorch records the forward pass and runs it backwards with ``loss.backward()``. Its
# ``F.cross_entropy`` takes the scores, not the probabilities: it applies the softmax
# itself (see :ref:`sphx_glr_auto_examples_learn_plot_training_loop.py` for why). In double
# precision its gradients equal the ones above to rounding.
params = [
    torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (W1, b1, W2, b2)
]
w1_t, b1_t, w2_t, b2_t = params
hidden = torch.sigmoid(w1_t @ torch.tensor(x) + b1_t)
scores = w2_t @ hidden + b2_t
torch_loss = F.cross_entropy(scores[None], torch.tensor([y]))
torch_loss.backward()
for name, param, ours in zip(
    ("W1", "b1", "W2", "b2"), params, (grad_w1, grad_b1, grad_w2, grad_b2), strict=True
):
    difference = np.abs(param.grad.numpy() - ours).max()
    print(f"dC/d{name}: largest difference from autograd {difference:.1e}")
    assert difference < 1e-12
assert abs(torch_loss.item() - loss) < 1e-12

# %%
# The network, before and after the step
# --------------------------------------
#
# Each line is a weight, labelled with its value before the step and, below it, its
# gradient; each circle shows its unit's activation. Weights whose gradient is negative
# grow, the others shrink.
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.set(xlim=(-0.5, 4.5), ylim=(0.1, 3.3), aspect="equal")
ax.axis("off")
columns = {"input x": (0.0, x), "hidden a¹": (2.0, a1), "softmax p": (4.0, p)}
position = {
    (name, i): (cx, 2.4 - 1.8 * i)
    for name, (cx, _) in columns.items()
    for i in range(2)
}
for left, right, weights, grads in (
    ("input x", "hidden a¹", W1, grad_w1),
    ("hidden a¹", "softmax p", W2, grad_w2),
):
    for j in range(2):
        for i in range(2):
            (x0, y0), (x1, y1) = position[left, i], position[right, j]
            ax.plot(
                [x0, x1], [y0, y1], color="#d62728" if grads[j, i] < 0 else "#4c72b0"
            )
            t = 0.5 if i == j else 0.27  # crossing lines: labels near their start
            ax.text(
                x0 + t * (x1 - x0),
                y0 + t * (y1 - y0) + (0.08 if i == j else 0),
                f"{weights[j, i]:+.2f}\n({grads[j, i]:+.3f})",
                ha="center",
                va="bottom" if i == j else "center",
                fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
            )
for (name, i), (cx, cy) in position.items():
    value = columns[name][1][i]
    ax.add_patch(
        plt.Circle((cx, cy), 0.32, facecolor="#fee6ce", edgecolor="#a63603", zorder=3)
    )
    ax.text(cx, cy, f"{value:.3f}", ha="center", va="center", fontsize=9, zorder=4)
for name, (cx, _) in columns.items():
    ax.text(cx, 3.0, name, ha="center", fontsize=10)
ax.set_title(
    f"weight (gradient); red: grows in the step. Loss {loss:.3f} → {loss_new:.3f}",
    fontsize=10,
)
