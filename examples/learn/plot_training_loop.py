"""
======================================================
The training loop in plain PyTorch, and what it learns
======================================================

Every training run, mnistkit's included, repeats four steps for every mini-batch: the
forward pass, the loss, the backward pass, the optimiser's step. Here they are in plain
PyTorch, about 25 lines with nothing hidden, training a perceptron with one hidden layer
on all 60,000 training digits. Then the same network is trained by
:class:`mnistkit.Trainer`, to see what a trainer adds, and the hidden layer's weights are
drawn as images, to see what its units learnt.
"""

# %%
# The loop
# --------
#
# The whole training split is held as one tensor of pixels in :math:`[0, 1]`. Each epoch
# visits it in a new random order, 128 images at a time. The four steps are the last
# five lines of the inner loop: ``optimizer.zero_grad()`` clears the gradients of the
# previous step (PyTorch *adds* new gradients to the stored ones), ``loss.backward()``
# runs :doc:`backpropagation </concepts/learning>`, and ``optimizer.step()`` moves every
# parameter against its gradient.
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

import mnistkit

mnist = mnistkit.datasets.load("mnist")
images = mnist.train.images.float()[:, None] / 255  # (60000, 1, 28, 28)
labels = mnist.train.labels.long()

torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
for epoch in range(2):
    model.train()
    order = torch.randperm(len(images))
    for start in range(0, len(images), 128):
        batch = order[start : start + 128]
        x = (images[batch] - 0.1307) / 0.3081  # normalised inputs
        scores = model(x)  # logits: no softmax in the model
        loss = F.cross_entropy(scores, labels[batch])  # the softmax is in here
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        test_x = (mnist.test.images.float()[:, None] / 255 - 0.1307) / 0.3081
        predicted = model(test_x).argmax(1)
    plain_accuracy = (predicted == mnist.test.labels).float().mean().item()
    print(
        f"epoch {epoch + 1}: last batch loss {loss.item():.3f}, "
        f"test accuracy {plain_accuracy:.2%}"
    )
assert plain_accuracy > 0.95

# %%
# Why the softmax is inside the loss
# ----------------------------------
#
# The model returns raw scores, and :func:`torch.nn.functional.cross_entropy` applies the
# softmax and the logarithm together. Written separately, they fail on scores that a
# confident network produces. :math:`e^{z}` overflows single precision above
# :math:`z \approx 88.7`, and the probability of a class 120 below the best one,
# :math:`e^{-120} \approx 10^{-52}`, rounds to 0, whose logarithm is :math:`-\infty`.
# The loss needs only the logarithm of the probability,
#
# .. math::
#
#    \log p_y = z_y - \log \sum_j e^{z_j}
#             = z_y - m - \log \sum_j e^{z_j - m}, \qquad m = \max_j z_j,
#
# and subtracting the largest score :math:`m` first (the *log-sum-exp* trick) keeps every
# exponent at or below 0: no overflow, and a sum of at least 1, so no logarithm of 0.
confident = torch.tensor([[120.0, 0.0, -30.0]])
for true_class in (0, 1):
    target = torch.tensor([true_class])
    naive = -torch.log(torch.exp(confident) / torch.exp(confident).sum())[0, true_class]
    stable = F.cross_entropy(confident, target)
    print(
        f"true class {true_class}: naive loss {naive.item()}, "
        f"cross_entropy {stable.item()}"
    )
    assert not torch.isfinite(naive) and torch.isfinite(stable)
assert F.cross_entropy(confident, torch.tensor([1])).item() == 120.0

# %%
# The naive version gives ``nan`` (infinity divided by infinity) when it is right and
# ``inf`` when it is wrong; ``cross_entropy`` gives a loss of 0 and 120, the exact
# answers. It is also why the gradient with respect to the scores comes out as the simple
# :math:`p - e_y`. mnistkit's models return scores for the same reason, and
# :func:`mnistkit.predict_proba` applies the softmax only when probabilities are wanted.

# %%
# The same network, trained by ``Trainer``
# ----------------------------------------
#
# :class:`mnistkit.Trainer` runs the same four steps (its ``train_step``). Given the same
# network, with the normalisation moved into the model as its first layer, and the same
# settings (``"momentum"`` is SGD with Nesterov momentum 0.9), it reaches about the same
# accuracy: the two runs differ only in the random order of the batches.
mnistkit.seed_everything(0)
network = nn.Sequential(
    mnistkit.Normalize(0.1307, 0.3081),
    nn.Flatten(),
    nn.Linear(784, 100),
    nn.ReLU(),
    nn.Linear(100, 10),
)
config = mnistkit.TrainConfig(
    epochs=2, optimizer="momentum", lr=0.05, schedule="none", progress=False
)
start = network[2].weight.detach().clone()  # kept to compare with, below
trainer = mnistkit.Trainer(network, config)
history = trainer.fit(mnist.train)
trainer_accuracy = trainer.evaluate(mnist.test).accuracy
print(f"plain loop: {plain_accuracy:.2%}; Trainer: {trainer_accuracy:.2%}")
assert trainer_accuracy > 0.95 and abs(trainer_accuracy - plain_accuracy) < 0.01

# %%
# What the trainer adds is everything around the four steps, each of which a real run
# needs sooner or later:
#
# * it moves the model and the data to the device (GPU, Apple's MPS or the CPU) and can
#   train in 16-bit precision (:doc:`/user_guide/devices`);
# * it validates after every epoch and records losses, accuracies, the learning rate and
#   the time in a :class:`~mnistkit.History`;
# * it applies a learning-rate schedule, weight decay, gradient clipping, label smoothing
#   and weight averaging, chosen by name in a :class:`~mnistkit.TrainConfig`;
# * it seeds every random number generator, and stops with an error when the loss
#   becomes ``nan`` instead of training on;
# * callbacks stop early, keep the best model, save a state to resume from, and draw
#   progress bars; it also trains on several GPUs (:doc:`/user_guide/training`).

# %%
# What the hidden units learnt
# ----------------------------
#
# Each of the 100 hidden units has one weight per pixel, so its weights can be drawn as a
# 28×28 image: red pixels raise the unit's weighted input, blue ones lower it. Unlike
# the weights of :ref:`softmax regression
# <sphx_glr_auto_examples_learn_plot_nearest_mean.py>`, they are not templates of whole
# digits. Most are strokes and blobs with an opposite-signed surround, parts that the
# output layer combines into digits. Twelve of them:
weights = network[2].weight.detach()  # (100, 784)
fig = mnistkit.plotting.plot_weights(
    weights[:12], classes=[f"unit {i}" for i in range(12)], ncols=3
)
fig.suptitle("First-layer weights of 12 hidden units")

# %%
# Training changed the weights over the middle of the image much more than those over the
# border. In the border, MNIST has no ink: there every image has the same input, the
# background's normalised value, so those weights carry no information about the digit
# and stay close to their random starting values.
border = torch.ones(28, 28, dtype=torch.bool)
border[4:24, 4:24] = False
change = (weights - start).abs().reshape(100, 28, 28)
inner, outer = change[:, ~border].mean().item(), change[:, border].mean().item()
print(f"mean change of a weight: {inner:.4f} in the middle, {outer:.4f} in the border")
assert inner > 2 * outer
plt.show()
