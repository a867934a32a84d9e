"""
=============================
Working in a Jupyter notebook
=============================

mnistkit's objects display themselves as tables in a notebook: a data set shows its
splits with a strip of their first digits, a training history its epochs, a report its
per-class scores, a model file its metadata. The training progress bar becomes a widget.
Download this page as a notebook (button at the bottom) to try it; here the same
displays are rendered into the page.
"""

# %%
# A data set and its splits
# -------------------------
#
# The last expression of a notebook cell is displayed through its ``_repr_html_`` method:
# for :func:`mnistkit.datasets.load`'s result, a table of its splits and the first digits
# of each with their labels.
import mnistkit

mnistkit.seed_everything(0)
mnist = mnistkit.datasets.load("mnist")
mnist

# %%
# A :class:`~mnistkit.Split` shows its size, its classes and its first digits.
train, val = mnistkit.train_val_split(
    mnist.train.subset(slice(0, 6_000)), val_fraction=0.1
)
val

# %%
# Training
# --------
#
# In a notebook, :class:`~mnistkit.Trainer` shows a progress bar by default (a widget
# when ``ipywidgets`` is installed: ``pip install ".[notebook]"``), as it does in a
# terminal. The :class:`~mnistkit.History` it returns displays one row per epoch.
trainer = mnistkit.Trainer(mnistkit.get_model("linear"), mnistkit.TrainConfig(epochs=2))
history = trainer.fit(train, val=val)
history

# %%
# :meth:`History.plot() <mnistkit.History.plot>` draws the learning curves.
fig = history.plot()

# %%
# Evaluation
# ----------
#
# A :class:`~mnistkit.Report` displays the table ``print(report)`` writes, as HTML.
report = trainer.evaluate(mnist.test)
assert report.accuracy > 0.85, report.accuracy
assert "<table" in report._repr_html_()
report

# %%
# A model file's metadata
# -----------------------
#
# :func:`mnistkit.load_model` returns the model with its :class:`~mnistkit.ModelMetadata`:
# architecture, data set, classes, the metrics stored with it and the version that wrote
# it.
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as folder:
    path = trainer.save_model(
        Path(folder) / "linear.safetensors", metrics={"test_accuracy": report.accuracy}
    )
    loaded = mnistkit.load_model(path)
assert loaded.metadata.architecture == "linear"
loaded.metadata
