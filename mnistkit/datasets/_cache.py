"""Where the data files live: the data folder's policy and the files in it (private)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "data_dir", "find_file"]

#: Environment variable naming the data folder when ``root`` is not given.
DATA_DIR_ENV = "MNISTKIT_DATA_DIR"


def data_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``root``, else ``$MNISTKIT_DATA_DIR``, else the per-user cache.

    Parameters
    ----------
    root : path-like, optional
        A folder chosen by the caller; ``~`` is expanded.

    Returns
    -------
    pathlib.Path
        The folder that holds one sub-folder per data set; it need not exist yet.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "mnistkit"


def find_file(folder: Path, stem: str, suffix: str = ".gz") -> Path | None:
    """``folder/stem + suffix`` or else ``folder/stem``, whichever is a file first; else
    ``None``."""
    for candidate in (folder / f"{stem}{suffix}", folder / stem):
        if candidate.is_file():
            return candidate
    return None
