"""The ``mnistkit`` command line: a thin layer over the public API.

Commands: ``train``, ``ensemble``, ``evaluate``, ``predict``, ``export``,
``datasets list|download|verify``,
``models``, ``recipes``, ``compare``, ``lr-find``, ``tune``.
Exit codes: 0 on success; 2 for bad arguments or bad input files (a one-line message on
standard error, no traceback); 1 for anything else; 130 when interrupted.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Sequence

from mnistkit.cli._commands import COMMANDS
from mnistkit.cli._parser import UsageError, build_parser, with_default_model

__all__ = ["main"]

log = logging.getLogger("mnistkit")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv``; return the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit code: 0 on success, 1 for a failure that is not the input's fault, 2 for
        bad usage or input, 130 when interrupted.
    """
    try:
        return _run(argv)
    finally:
        if argv is None:
            # The process's own command line (the console script, ``python -m mnistkit``):
            # it exits next, and moving every object out of the collector's reach spares
            # the final collections that walk the whole heap (0.6-0.8 CPU seconds after a
            # training run, benchmarks/RESULTS.md). Never done for a caller's ``argv``:
            # a notebook or a test keeps running and needs its collector.
            gc.freeze()


def _run(argv: Sequence[str] | None) -> int:
    """:func:`main` without the exit-time shortcut: the one place where an exception
    becomes a message and an exit code."""
    from mnistkit.exceptions import (
        CheckpointError,
        ConfigError,
        DatasetError,
        DeviceError,
        DownloadError,
        ImageError,
        MnistkitError,
    )

    try:
        parser = build_parser()
        args = parser.parse_args(with_default_model(parser, sys.argv[1:] if argv is None else argv))
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="mnistkit: %(message)s",
        )
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        COMMANDS[args.command](args)
        return EXIT_OK
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except DownloadError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except (ConfigError, DeviceError, DatasetError, CheckpointError, ImageError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except MnistkitError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt as exc:  # a command may say how to continue
        _error(str(exc) or "interrupted")
        return EXIT_INTERRUPTED
    except OSError as exc:  # e.g. an output folder that cannot be written
        _error(str(exc))
        return EXIT_FAILURE


def _error(message: str) -> None:
    first, _, rest = message.partition("\n")
    sys.stderr.write(f"mnistkit: error: {first}\n")
    if rest:  # multi-line messages (e.g. every mirror tried) keep their detail, indented
        sys.stderr.write("".join(f"  {line}\n" for line in rest.splitlines()))
