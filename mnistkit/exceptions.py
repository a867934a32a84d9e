"""Exceptions and warning categories raised by mnistkit.

Every error mnistkit raises on purpose derives from one root, so callers can
catch them all with ``except mnistkit.MnistkitError``::

    MnistkitError
    ├── ConfigError          (also a ValueError)  bad argument or configuration value
    ├── DeviceError          (also a ValueError)  unknown or unavailable device / precision
    ├── DatasetError                               anything about data sets on disk
    │   ├── DatasetNotFoundError                   files missing and download=False
    │   ├── CorruptFileError                       a file fails verification
    │   └── DownloadError                          every mirror failed
    ├── CheckpointError                            an unreadable or mismatched model file
    ├── ImageError                                 a user image that cannot be read
    ├── TrainingDivergedError                      the loss became NaN or infinite
    ├── FolderLockedError                          another run is writing into the folder
    ├── DistributedError                           a data-parallel run's process failed
    ├── ExportError                                an export failed or differs from PyTorch
    ├── WriteError           (also an OSError)     a file could not be written (disk full)
    └── MissingExtraError    (also an ImportError) an optional extra is not installed

    MnistkitWarning (UserWarning)
    ├── DeviceFallbackWarning                      a documented fallback was taken
    └── PrecisionFallbackWarning

Messages name the argument or file, the bad value, and what would be accepted.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "CorruptFileError",
    "DatasetError",
    "DatasetNotFoundError",
    "DeviceError",
    "DeviceFallbackWarning",
    "DistributedError",
    "DownloadError",
    "ExportError",
    "FolderLockedError",
    "ImageError",
    "MissingExtraError",
    "MnistkitError",
    "MnistkitWarning",
    "PrecisionFallbackWarning",
    "TrainingDivergedError",
    "WriteError",
]


class MnistkitError(Exception):
    """Root of every error mnistkit raises on purpose."""


class ConfigError(MnistkitError, ValueError):
    """An argument or configuration value is invalid."""


class DeviceError(MnistkitError, ValueError):
    """A device or precision was requested that is unknown or not available."""


class DatasetError(MnistkitError):
    """A data set could not be found, read, verified or downloaded."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The data set's files are not on disk and downloading was not allowed."""


class CorruptFileError(DatasetError):
    """A data file is truncated, malformed or does not match its checksum."""


class DownloadError(DatasetError):
    """Every mirror failed to deliver a verified file."""


class CheckpointError(MnistkitError):
    """A model or training-state file is missing, malformed or does not fit the model."""


class ImageError(MnistkitError):
    """A user's image file cannot be opened or converted."""


class TrainingDivergedError(MnistkitError):
    """The training loss became NaN or infinite; the weights are no longer usable."""


class FolderLockedError(MnistkitError):
    """Another process holds the lock on an output folder."""


class DistributedError(MnistkitError):
    """A data-parallel run was launched wrongly, or a rank failed or stopped answering."""


class ExportError(MnistkitError):
    """Exporting a model failed, or the exported file does not compute what PyTorch does."""


class WriteError(MnistkitError, OSError):
    """A file could not be written: the disk is full, the folder is read-only, permission
    is denied...

    The message is one line naming the file and the operating system's reason; the
    original error is its ``__cause__``, and :attr:`errno` is its error number. Nothing
    half-written is left at the destination (see :mod:`mnistkit._io`).
    """


class MissingExtraError(MnistkitError, ImportError):
    """A feature needs an optional library that is not installed.

    The message names the extra and the ``pip install`` commands that bring it.
    """


class MnistkitWarning(UserWarning):
    """Base category of the warnings mnistkit emits."""


class DeviceFallbackWarning(MnistkitWarning):
    """A requested device feature is unavailable and a documented fallback is used."""


class PrecisionFallbackWarning(MnistkitWarning):
    """A requested precision is unsupported on the device; a fallback is used."""
