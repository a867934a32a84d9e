"""
============================================
Your own network and callback in the Trainer
============================================

The :class:`~mnistkit.Trainer` is not tied to mnistkit's models: any
:class:`torch.nn.Module` that maps a batch of images (B, 1, 28, 28) with pixels in [0, 1]
to class scores (B, 10) can be trained, evaluated, saved and plotted. Callbacks let you
watch or steer the training loop without changing it. Here we write a small network and a
callback of our own, and use two of the built-in callbacks, :class:`~mnistkit.EarlyStopping`
and :class:`~mnistkit.MetricsLogger`.
"""

# %%
# A network of our own
# --------------------
#
# A compact CNN whose two convolutions move their kernel two pixels at a time
# (``stride=2``), so each one halves the image by itself, 28 → 14 → 7, where mnistkit's
# ``cnn`` uses max-pooling. One linear layer reads the 32 maps of 7×7. It has 20 times fewer
# parameters than ``cnn``. Like every mnistkit model it returns raw scores (logits); the
# trainer applies the softmax inside the cross-entropy loss.
#
# Like every mnistkit model, too, it starts with a :class:`~mnistkit.models.Normalize`
# layer: the trainer and :func:`~mnistkit.predict` hand a model pixels in [0, 1], and the
# model shifts and scales them by MNIST's mean and standard deviation itself. Those two
# numbers are saved with the weights, so the model file is all a user needs. Named
# ``normalize``, as in mnistkit's models, the layer would also receive the normalisation of
# a model file from mnistkit 0.1.
import torch
from torch import nn

import mnistkit
from mnistkit.models import Normalize


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.normalize = Normalize.for_dataset(
            "mnist"
        )  # pixels in [0, 1] -> mean 0, std 1
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2, padding=2),  # (B, 16, 14, 14)
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # (B, 32, 7, 7)
            nn.ReLU(),
        )
        self.classifier = nn.Linear(32 * 7 * 7, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.normalize(x)).flatten(
            1
        )  # (B, 1, 28, 28) -> (B, 32 * 7 * 7)
        return self.classifier(x)  # (B, num_classes)


tiny = mnistkit.summary(TinyNet())
print(tiny)
ratio = mnistkit.summary(mnistkit.get_model("cnn")).total_params / tiny.total_params
assert round(ratio) == 20, ratio


# %%
# A callback of our own
# ---------------------
#
# A :class:`~mnistkit.Callback` overrides only the hooks it needs; the others do nothing.
# Every hook receives a :class:`~mnistkit.RunView`, a read-only view of the run: the model,
# the configuration, the history so far, the current learning rate ``run.lr``, and
# ``run.request_stop()`` to end training after the current epoch. This one records the
# learning rate after every batch and the loss whenever the trainer reports it (every
# ``log_every`` batches), which shows the learning-rate schedule at work.
class BatchRecorder(mnistkit.Callback):
    def __init__(self) -> None:
        self.learning_rates: list[float] = []
        self.losses: list[tuple[int, float]] = []
        self.step = 0

    def on_batch_end(
        self, run: mnistkit.RunView, batch: int, loss: float | None
    ) -> None:
        self.learning_rates.append(run.lr)
        if loss is not None:
            self.losses.append((self.step, loss))
        self.step += 1


# %%
# Train with early stopping and a log file
# ----------------------------------------
#
# Early stopping must watch data the model is not trained on, and the test set must stay
# untouched until the end, so :func:`~mnistkit.train_val_split` sets aside 10% of the
# training images, stratified by class. :class:`~mnistkit.EarlyStopping` ends training when
# the validation loss has not improved for ``patience`` epochs in a row;
# :class:`~mnistkit.MetricsLogger` appends each epoch's record to a CSV file.
import tempfile
from pathlib import Path

mnistkit.seed_everything(0)
mnist = mnistkit.datasets.load("mnist")
train, val = mnistkit.train_val_split(
    mnist.train.subset(slice(0, 10_000)), val_fraction=0.1
)
print(len(train), "training and", len(val), "validation images")

folder = Path(tempfile.mkdtemp())  # removed at the end
recorder = BatchRecorder()
early_stopping = mnistkit.EarlyStopping(monitor="val_loss", patience=1)
callbacks = [recorder, early_stopping, mnistkit.MetricsLogger(folder / "metrics.csv")]
config = mnistkit.TrainConfig(epochs=4, batch_size=64, log_every=10)
trainer = mnistkit.Trainer(TinyNet(), config, callbacks=callbacks)
history = trainer.fit(train, val=val)
print(f"trained {len(history)} of {config.epochs} epochs;", early_stopping)
print("EarlyStopping.stopped_epoch:", early_stopping.stopped_epoch)

# the run stops early only when the validation loss failed to improve for an epoch
val_losses = history.val_loss
assert early_stopping.stopped_epoch in (None, len(history))
if len(history) < config.epochs:
    assert val_losses[-1] >= min(val_losses[:-1])

# %%
# The log file is ordinary CSV, one row per epoch, readable by any tool:
import csv

with open(folder / "metrics.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
for row in rows:
    print(
        f"epoch {row['epoch']}: validation loss {float(row['val_loss']):.4f}, "
        f"accuracy {float(row['val_accuracy']):.2%}"
    )
assert len(rows) == len(history)

# %%
# What the callback saw
# ---------------------
#
# The default one-cycle schedule warms the learning rate up over the first quarter of the
# batches planned for the run, then anneals it towards zero; large steps early move the
# weights quickly, small steps late let them settle. The loss falls fastest while the rate
# is high.
import matplotlib.pyplot as plt

rates = recorder.learning_rates
per_epoch = -(
    -len(train) // config.batch_size
)  # batches per epoch, the last one smaller
planned = config.epochs * per_epoch
peak = max(range(len(rates)), key=rates.__getitem__)
print(
    f"{len(rates)} batches recorded; the rate peaks after batch {peak + 1} of {planned}"
)
assert len(rates) == len(history) * per_epoch
assert abs((peak + 1) / planned - 0.25) < 0.01
assert rates[0] < rates[peak] and (len(rates) == peak + 1 or rates[-1] < rates[peak])

fig, (ax_lr, ax_loss) = plt.subplots(2, 1, figsize=(6, 6), layout="constrained")
ax_lr.plot(recorder.learning_rates)
ax_lr.set(xlabel="batch", ylabel="learning rate", title="One-cycle schedule")
steps, losses = zip(*recorder.losses, strict=True)
ax_loss.plot(steps, losses, marker=".")
ax_loss.set(xlabel="batch", ylabel="training loss", yscale="log", title="Batch loss")
plt.show()

# %%
# Evaluate, save and load
# -----------------------
#
# Evaluation and prediction work as for the built-in models; the test set is used here,
# once, at the end. A model file of a custom network records no architecture name, so
# :func:`~mnistkit.load_model` needs a fresh instance to pour the weights into; the
# normalisation comes back with them, and the loaded network predicts what the trained one
# does.
report = trainer.evaluate(mnist.test)
print(f"test accuracy {report.accuracy:.2%} after {len(history)} epochs")

path = trainer.save_model(folder / "tinynet.safetensors")
loaded = mnistkit.load_model(path, model=TinyNet())
print(loaded.metadata.architecture, loaded.metadata.dataset, loaded.metadata.classes)
assert loaded.metadata.architecture is None
images = mnist.test.images[:1000]
assert mnistkit.predict(loaded.model, images).equal(trainer.predict(images))

import shutil

shutil.rmtree(folder)
