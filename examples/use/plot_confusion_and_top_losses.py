"""
=============================================
Reading a confusion matrix and the top losses
=============================================

Accuracy is one number; the confusion matrix shows *which* digits a model mixes up, and the
top losses show the images behind those mistakes. We train a multi-layer perceptron for a
few seconds, then read its errors from several angles.
"""

# %%
# A model with some mistakes to look at
# -------------------------------------
#
# A perceptron trained on 15,000 images for two epochs gets about 95% of the test set right,
# which leaves about 500 errors to study.
import matplotlib.pyplot as plt

import mnistkit
from mnistkit import plotting

mnistkit.seed_everything(0)
mnist = mnistkit.datasets.load("mnist")
trainer = mnistkit.Trainer(mnistkit.get_model("mlp"), mnistkit.TrainConfig(epochs=2))
trainer.fit(mnist.train.subset(slice(0, 15_000)))

probabilities = trainer.predict_proba(mnist.test.images)
labels = mnist.test.labels
report = mnistkit.Report.from_probabilities(
    probabilities, labels, classes=mnist.classes
)
errors = int((probabilities.argmax(1) != labels).sum())
print(f"test accuracy {report.accuracy:.2%}: {errors} errors in {len(labels):,}")
assert 0.93 < report.accuracy < 0.97 and 300 < errors < 700, (report.accuracy, errors)

# %%
# The confusion matrix
# --------------------
#
# Row ``i``, column ``j`` counts the test images of digit ``i`` that the model called
# ``j``. Correct answers sit on the diagonal; every other cell is a kind of mistake.
# Normalising each row by its total (``normalize="true"``) turns the diagonal into each
# digit's *recall*, the share of that digit the model finds, and makes rows of different
# sizes comparable.
ax = plotting.plot_confusion_matrix(report, normalize="true")
assert int(report.confusion_matrix.trace()) == len(labels) - errors

# %%
# The same numbers in the report: *precision* is the share of a predicted digit that is
# right (a column of the matrix), *recall* the share of a true digit that is found (a
# row), and F1 their harmonic mean.
print(report)

# %%
# Which mix-ups are the most common? The largest off-diagonal counts answer it, and they
# tend to pair digits that share strokes.
import torch

mixups = report.confusion_matrix.clone()
mixups.fill_diagonal_(0)
counts, flat = mixups.flatten().topk(5)
for count, index in zip(counts.tolist(), flat.tolist(), strict=True):
    true, predicted = divmod(index, 10)
    print(f"{count:3d} images of a {true} were read as {predicted}")

# %%
# The top losses
# --------------
#
# The loss of one image is :math:`-\log p`, where :math:`p` is the probability the model
# gave to the true digit. It is small when the model is confidently right and large when it
# is confidently wrong, so sorting by it lists the worst mistakes first.
# :func:`~mnistkit.plotting.show_top_losses` titles each image with the prediction and the
# truth, then the loss and :math:`p`.
fig = plotting.show_top_losses(mnist.test.images, probabilities, labels, k=12)

# %%
# Some of these digits are badly written, some are ambiguous even to a person, and a few
# look mislabelled. That is worth knowing before chasing the last percent of accuracy.
#
# One prediction up close
# -----------------------
#
# :func:`~mnistkit.plotting.plot_probabilities` shows all ten probabilities of one image:
# here the worst mistake. The predicted class is red because it is wrong; the true class
# is outlined.
losses = -torch.log(probabilities[torch.arange(len(labels)), labels])
worst = int(losses.argmax())
assert int(probabilities[worst].argmax()) != int(labels[worst])  # a mistake, as said
ax = plotting.plot_probabilities(probabilities[worst], true=int(labels[worst]))
ax.set(title=f"Test image {worst}: probabilities of each digit")
plt.show()

# %%
# Is the model's confidence trustworthy?
# --------------------------------------
#
# A reliability diagram groups the predictions by confidence and compares each group's
# confidence with its accuracy. When they match, a prediction made with 90% confidence is
# right nine times out of ten. The expected calibration error (ECE) in the title averages
# the gaps.
ax = plotting.plot_calibration(probabilities, labels, n_bins=10)
