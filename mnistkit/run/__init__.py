"""A whole training run into a folder: what ``mnistkit train`` does, callable from Python.

:func:`run_training` loads the data, builds the model, trains it (optionally holding out a
validation split), evaluates it once on the test set and writes everything into one
folder::

    model.safetensors      the model (weights, normalisation, metadata)
    metrics.json           test accuracy, timings, settings and the full report
    history.json           one record per epoch
    state.pt               the training state, for resume=True
    predictions.png        test digits with their predicted labels
    misclassified.png      test digits the model got wrong
    confusion_matrix.png   the confusion matrix
    history.png            learning curves

Every file is written atomically, so an interrupted run never leaves half a file.

Under ``torchrun`` (data-parallel, see :mod:`mnistkit.distributed`) every rank trains and
evaluates, but only rank 0 locks the folder and writes these files; the other ranks write
nothing. With ``resume=True`` every rank reads ``state.pt``, so on several machines ``out``
must be on a shared file system.

The package's modules: ``_single`` (:func:`run_training`), ``_ensemble``
(:func:`run_ensemble`) and ``_records`` (``metrics.json``'s records and the figures).
"""

from __future__ import annotations

from mnistkit.run._ensemble import EnsembleResult, run_ensemble
from mnistkit.run._records import FIGURES as FIGURES
from mnistkit.run._single import RunResult, run_training

__all__ = ["EnsembleResult", "RunResult", "run_ensemble", "run_training"]
