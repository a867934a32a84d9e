"""Model files and training state, saved so that loading never runs code from the file.

* :func:`save_model` / :func:`load_model`: the weights in a `safetensors
  <https://huggingface.co/docs/safetensors>`_ file, whose header carries mnistkit's metadata
  as JSON (file format version, architecture and configuration, data set, class names,
  mnistkit version, metrics). One file, no pickle. The input normalisation is part of the
  weights (the model's :class:`~mnistkit.models.Normalize` buffers).
* :class:`TrainingState`, :func:`save_training_state` / :func:`load_training_state`:
  optimiser, schedule, random generators, history and the callbacks' state for resuming,
  written with :func:`torch.save` and read with ``torch.load(weights_only=True)``, which
  only rebuilds tensors and plain containers. :func:`resume_conflicts` says which settings
  may change when a run is resumed.

Every file is written atomically (a temporary file in the target folder, fsynced, then
renamed into place), with the mode a new file gets under the user's umask; a write the
operating system refuses (a full disk, a read-only folder) raises
:class:`~mnistkit.exceptions.WriteError` and leaves the destination as it was.

Model file format versions: 1 (mnistkit 0.1) kept ``mean``/``std`` in the metadata and
models expected normalised input; :func:`load_model` still reads such files and puts their
normalisation into the model's :class:`~mnistkit.models.Normalize` layer. Version 2 (this
release) stores it in the weights.

The model file lives in ``mnistkit.checkpoints.model_file``, the training state in
``mnistkit.checkpoints.training_state``; import their names from here.
"""

from __future__ import annotations

from mnistkit.checkpoints.model_file import (
    FORMAT_VERSION,
    LoadedModel,
    ModelMetadata,
    load_model,
    save_model,
    set_rejection_threshold,
)
from mnistkit.checkpoints.training_state import (
    FREE_ON_RESUME,
    TrainingState,
    load_training_state,
    resume_conflicts,
    save_training_state,
)

__all__ = [
    "FORMAT_VERSION",
    "FREE_ON_RESUME",
    "LoadedModel",
    "ModelMetadata",
    "TrainingState",
    "load_model",
    "load_training_state",
    "resume_conflicts",
    "save_model",
    "save_training_state",
    "set_rejection_threshold",
]
