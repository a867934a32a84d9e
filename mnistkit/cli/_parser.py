"""The ``mnistkit`` argument parser (private to :mod:`mnistkit.cli`).

The training flags are derived from :class:`~mnistkit.TrainConfig`'s fields, as LightningCLI
derives them from a signature: ``--batch-size`` from ``batch_size``, its choices from the
field's ``choices`` metadata, its help from the field's ``help`` metadata, and the values it
accepts from ``TrainConfig``'s own validation, so that a flag cannot drift from the setting
it feeds. Flags that several commands share come from parent parsers.

No module that needs PyTorch, NumPy or Matplotlib is imported here, so that ``--version``
and every command's ``--help`` answer at once. The choices of ``--model``, ``--dataset``
and ``--recipe`` come from :func:`mnistkit._choices.registered` (the built-in names, or a
registry that is already loaded), read when argparse first needs them; a command that
offers them uses :func:`_add_names` with ``datasets_``, ``models_`` or ``recipes_``, and
``tests/test_cli_help.py`` checks every command's ``--help`` for those imports.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, NoneType
from typing import NoReturn, overload

from mnistkit._choices import registered
from mnistkit._version import __version__
from mnistkit.config import TrainConfig
from mnistkit.exceptions import ConfigError

__all__ = [
    "ENSEMBLE_FIELDS",
    "LR_FIND_FIELDS",
    "NOT_FLAGS",
    "TUNE_FIELDS",
    "UsageError",
    "build_parser",
    "train_fields",
]


class UsageError(Exception):
    """Bad command-line usage; reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


#: ``TrainConfig`` fields that ``mnistkit train`` deliberately offers no flag for, and why.
#: Every other field becomes a flag; ``tests/test_cli_parser.py`` holds the two together.
NOT_FLAGS: Mapping[str, str] = MappingProxyType(
    {
        "momentum": "set with its optimiser in a recipe; no flag yet (adding one is a new "
        "flag, not part of deriving the existing ones)",
        "step_size": "set with the 'step' schedule in a recipe; no flag yet (as momentum)",
        "gamma": "set with the 'step' schedule in a recipe; no flag yet (as momentum)",
        "ema_decay": "a recipe's choice (the 'best' recipes average their weights); no flag "
        "yet (as momentum)",
        "eval_batch_size": "changes how fast validation runs, not what it computes",
        "progress": "--quiet turns the progress bar off; it is on only on a terminal",
        "log_every": "feeds callbacks written in Python, which can set it there",
        "distributed": "torchrun's environment decides ('auto'); forcing a backend is for Python",
        "distributed_timeout": "a setting of data-parallel runs, which torchrun starts",
    }
)

#: ``TrainConfig`` fields that ``mnistkit ensemble`` takes as flags (applied to every member).
ENSEMBLE_FIELDS = ("epochs", "device", "precision")

_DATA_HELP = "data folder holding <name>/ (default: $MNISTKIT_DATA_DIR or ~/.cache/mnistkit)"
_TTA_HELP = (
    "test-time augmentation: average the probabilities of each image and of its copies "
    "moved one pixel right, left, down and up (5 forward passes), and of their mirror "
    "images for a data set whose classes mirroring keeps (clothes: 10 passes)"
)
_RECIPE_GROUP = (
    "training settings",
    "each flag sets that field of the recipe (see 'mnistkit recipes'); a flag not given "
    "keeps the recipe's value",
)


def train_fields() -> tuple[str, ...]:
    """The ``TrainConfig`` fields ``mnistkit train`` takes as flags, in the class's order."""
    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in NOT_FLAGS)


# ------------------------------------------------------------------------- derived flags
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _accepted(error: ConfigError) -> str:
    """What a ``TrainConfig`` message says a field accepts (its messages share one shape)."""
    found = re.search(r"must be (.+?), but got ", str(error))
    if found is None:  # pragma: no cover - every check in mnistkit._validation matches
        return str(error)
    return found.group(1).removesuffix(" or None")  # a flag cannot be given None


def _config_value(name: str, cast: type[int] | type[float]) -> Callable[[str], object]:
    """An argparse ``type=`` for the field ``name``: cast, then checked by ``TrainConfig``."""

    def parse(text: str) -> object:
        value: object
        try:
            value = cast(text)
        except ValueError:
            value = text  # TrainConfig rejects it and says what it would accept
        try:
            TrainConfig().replace(**{name: value})
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(f"expected {_accepted(exc)}, got {text!r}") from None
        return value

    return parse


def _add_config_flags(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """A flag for each named ``TrainConfig`` field, derived from the field; default None
    (the recipe's value)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group(*_RECIPE_GROUP)
    for name in names:
        field = fields[name]
        help_text = str(field.metadata["help"]).replace("%", "%%")
        kinds = [t for t in typing.get_args(hints[name]) if t is not NoneType] or [hints[name]]
        (kind,) = kinds
        if kind is bool:
            group.add_argument(
                _flag(name), action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif "choices" in field.metadata:
            choices = list(field.metadata["choices"])
            group.add_argument(_flag(name), choices=choices, default=None, help=help_text)
        elif kind is str:
            group.add_argument(_flag(name), default=None, help=help_text)
        elif kind is int or kind is float:
            value = _config_value(name, kind)
            group.add_argument(_flag(name), type=value, default=None, help=help_text)
        else:  # pragma: no cover - a new kind of field needs a rule here
            raise TypeError(f"TrainConfig.{name}: no command-line flag for type {kind!r}")


# ------------------------------------------------------------------------- other flags
class _Names(Sequence[str]):
    """A registry's names, looked up when argparse first needs them (a registry loaded by
    then, and what was registered into it from Python, is asked itself)."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        self._lookup = names
        self._names: Sequence[str] | None = None

    def _all(self) -> Sequence[str]:
        if self._names is None:
            self._names = list(self._lookup())
        return self._names

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, value: object) -> bool:
        return value in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())


def _add_names(
    parser: argparse.ArgumentParser, *flags: str, choices: _Names, **kwargs: object
) -> None:
    """``add_argument`` with a registry's names as choices, left unread until needed.

    ``add_argument`` formats an option's metavar once, to check it, and without a metavar
    that reads the choices; a stand-in metavar avoids the read and is then taken back."""
    metavar = kwargs.pop("metavar", None)
    if metavar is None and "--dataset" in flags:
        # ten names and more: listed in full they fill three lines of every usage; the
        # names are in 'mnistkit datasets list' and in the message for a wrong one
        metavar = "DATASET"
    action = parser.add_argument(*flags, choices=choices, metavar="X", **kwargs)  # type: ignore[arg-type]
    action.metavar = metavar  # type: ignore[assignment]


def _datasets() -> Sequence[str]:
    return registered("datasets")


def _models() -> Sequence[str]:
    return registered("models")


def _recipes() -> Sequence[str]:
    return registered("recipes")


def _number(
    cast: type[int] | type[float], accepts: Callable[[float], bool], expected: str
) -> Callable[[str], float]:
    """An argparse ``type=`` that casts with ``cast`` and accepts values passing ``accepts``."""

    def parse(text: str) -> float:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_non_negative_float = _number(float, lambda v: v >= 0, "a number >= 0")


def _parent() -> _Parser:
    return _Parser(add_help=False)


def _data_parent() -> _Parser:
    """``--data-dir``: every command that reads a data set."""
    parent = _parent()
    parent.add_argument("--data-dir", type=Path, default=None, help=_DATA_HELP)
    return parent


def _run_parent() -> _Parser:
    """The flags of the commands that train (``train``, ``ensemble``)."""
    parent = _parent()
    parent.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    parent.add_argument("--quiet", action="store_true", help="no progress bar")
    return parent


#: The model ``mnistkit predict IMAGE...`` uses when no model is named.
DEFAULT_PREDICT_MODEL = "pretrained:default"


def names_a_model(text: str) -> bool:
    """Whether a command-line argument names a model (a model file or a bundled one)."""
    return text.startswith("pretrained:") or text.lower().endswith(".safetensors")


def with_default_model(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``argv``, with :data:`DEFAULT_PREDICT_MODEL` put before the first image of a
    ``predict`` command that names no model (``mnistkit predict my_digit.png``).

    argparse cannot leave out a positional argument that comes before others, so the
    command line is completed before it is parsed.
    """
    args = list(argv)
    commands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    if "predict" not in args or args[: args.index("predict")] != [
        a for a in args[: args.index("predict")] if a.startswith("-")
    ]:
        return args  # no predict command (a global option may come before it)
    predict = commands.choices["predict"]
    takes_value = {
        option
        for action in predict._actions
        if action.nargs != 0
        for option in action.option_strings
    }
    position = args.index("predict") + 1
    while position < len(args):
        item = args[position]
        if item == "--":
            position += 1
            break
        if not item.startswith("-") or item == "-":
            break
        position += 2 if item in takes_value else 1
    if position < len(args) and not names_a_model(args[position]):
        args.insert(position, DEFAULT_PREDICT_MODEL)
    return args


_MODEL_HELP = (
    "a .safetensors file written by 'train', or pretrained:NAME for a model that ships with "
    "mnistkit (fast, default, best, fashion)"
)


def _inference_parent(precisions: Iterable[str]) -> _Parser:
    """The flags of the commands that run a saved model (``evaluate``, ``predict``)."""
    parent = _parent()
    parent.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: %(default)s)"
    )
    parent.add_argument(
        "--precision",
        choices=list(precisions),
        default="auto",
        help="autocast for inference; 'auto' is bfloat16 where the hardware computes it, as "
        "training used (default: %(default)s)",
    )
    parent.add_argument("--tta", action="store_true", help=_TTA_HELP)
    return parent


# ------------------------------------------------------------------------- the parser
def build_parser() -> argparse.ArgumentParser:
    """The ``mnistkit`` parser, with one subparser per command."""
    from mnistkit._choices import PRECISIONS

    datasets_, models_, recipes_ = _Names(_datasets), _Names(_models), _Names(_recipes)
    parser = _Parser(
        prog="mnistkit",
        description="Train, evaluate and use digit classifiers on MNIST and Fashion-MNIST.",
    )
    parser.add_argument("--version", action="version", version=f"mnistkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    data, run, inference = _data_parent(), _run_parent(), _inference_parent(PRECISIONS)

    def train_settings(names: Iterable[str]) -> _Parser:
        parent = _parent()
        _add_config_flags(parent, names)
        return parent

    # ------------------------------------------------------------------ train
    train = sub.add_parser(
        "train",
        help="train a model and write it with its metrics and plots",
        parents=[data, run, train_settings(train_fields())],
    )
    _add_names(
        train,
        "--recipe",
        choices=recipes_,
        default=None,
        metavar="RECIPE",  # the names are many: 'mnistkit recipes' lists them
        help="a named model + settings bundle; the training settings below override its "
        "fields (see 'mnistkit recipes'; default: the --model's own recipe, else 'default')",
    )
    _add_names(train, "--dataset", choices=datasets_, default="mnist")
    _add_names(
        train,
        "--model",
        choices=models_,
        default=None,
        help="alone: train the recipe of this name; with --recipe: that recipe's settings with "
        "this model (default: the recipe's)",
    )
    train.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        help="hold out this share of each class of the training set and validate on it after "
        "every epoch (default: %(default)s; 0 trains on all of it, without validation)",
    )
    train.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: runs/<dataset>-<recipe>, or -<model> with --model)",
    )
    train.add_argument("--resume", action="store_true", help="continue from <out>/state.pt")
    train.add_argument(
        "--tensorboard",
        type=Path,
        default=None,
        metavar="DIR",
        help="also log the run for TensorBoard into DIR (needs the tensorboard extra)",
    )
    train.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        default=None,
        metavar="URI",
        help="also track the run with MLflow: settings, per-epoch metrics, model, metrics.json "
        "and figures, at tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db "
        "in the working folder; needs the mlflow extra)",
    )

    sub.add_parser("recipes", help="list the recipes 'train --recipe' accepts")

    # ------------------------------------------------------------------ evaluate, predict
    evaluate = sub.add_parser(
        "evaluate", help="evaluate a saved model on a test set", parents=[data, inference]
    )
    evaluate.add_argument("model", type=Path, help=_MODEL_HELP)
    _add_names(
        evaluate, "--dataset", choices=datasets_, default=None, help="(default: the model's)"
    )
    evaluate.add_argument(
        "--split",
        default="test",
        help="which split of the data set: test (default), train, or one a data set adds "
        "(qmnist: test10k, test50k, nist)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_names(
        evaluate,
        "--ood",
        choices=datasets_,
        default=None,
        metavar="DATASET",
        help="also measure how well the model tells its test images from this data set's "
        "test images, e.g. fashion-mnist for 'is this even a digit?': AUROC, AUPR and FPR at "
        "95%% TPR of the maximum-probability and energy scores (float32)",
    )
    evaluate.add_argument(
        "--ood-plot",
        type=Path,
        default=None,
        metavar="OUT.png",
        help="with --ood: draw the distributions of both scores on the two sets into this PNG",
    )

    predict = sub.add_parser(
        "predict", help="classify image files (PNG, JPEG, ...)", parents=[inference]
    )
    predict.add_argument(
        "model",
        type=Path,
        metavar="[MODEL]",
        help=_MODEL_HELP + f"; leave it out to use {DEFAULT_PREDICT_MODEL}, which ships with "
        "mnistkit",
    )
    predict.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    predict.add_argument(
        "--show",
        type=Path,
        metavar="OUT.png",
        help="also draw each picture, the ink kept as the digit and the 28x28 image the "
        "model saw into this PNG file",
    )
    predict.add_argument(
        "--preprocessing",
        choices=["auto", "clean", "photo"],
        default="auto",
        help="how pictures become 28x28 digits: 'clean' for drawings and scans, 'photo' for "
        "photographs of paper, 'auto' chooses per picture (default: %(default)s)",
    )
    predict.add_argument("--json", action="store_true", help="print JSON lines")
    predict.add_argument(
        "--reject",
        action="store_true",
        help="answer 'not a digit' for a picture whose score is below the model file's "
        "rejection threshold (stored by 'train' with a validation split, or by 'threshold')",
    )

    # ------------------------------------------------------------------ threshold
    threshold = sub.add_parser(
        "threshold",
        help="choose a model file's 'not a digit' threshold on held-out images and store it",
        parents=[data],
    )
    threshold.add_argument("model", type=Path, help=_MODEL_HELP)
    _add_names(
        threshold,
        "--dataset",
        choices=datasets_,
        default=None,
        help="whose training images to choose on (default: the model's)",
    )
    threshold.add_argument(
        "--split",
        choices=["val", "train"],
        default="val",
        help="'val': the validation split 'train' held out with --val-fraction and --seed "
        "(give the values the model was trained with); 'train': all training images, for a "
        "model trained on all of them (it keeps fewer than --keep of new digits then) "
        "(default: %(default)s)",
    )
    threshold.add_argument(
        "--val-fraction",
        type=_number(float, lambda v: 0 < v < 1, "a number in (0, 1)"),
        default=0.1,
        help="with --split val (default: %(default)s)",
    )
    threshold.add_argument(
        "--seed", type=_config_value("seed", int), default=0, help="with --split val (default: 0)"
    )
    threshold.add_argument(
        "--keep",
        type=_number(float, lambda v: 0 < v <= 1, "a number in (0, 1]"),
        default=0.99,
        help="share of those images to keep as digits (default: %(default)s)",
    )
    threshold.add_argument(
        "--score",
        choices=["msp", "energy"],  # mnistkit.metrics.ood.SCORE_KINDS (a test holds them equal)
        default=None,
        help="maximum softmax probability or energy (default: energy; msp for an ensemble)",
    )
    threshold.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the model with its threshold here (default: replace MODEL, atomically; "
        "required for pretrained:NAME)",
    )

    # ------------------------------------------------------------------ export
    export = sub.add_parser(
        "export",
        help="export a saved model to ONNX or a torch.export program, checked on the test set",
        parents=[data],
    )
    export.add_argument("model", type=Path, help=_MODEL_HELP)
    export.add_argument(
        "--format",
        choices=["onnx", "pt2"],
        default=None,
        help="(default: from --out's suffix, else onnx)",
    )
    export.add_argument(
        "--out", type=Path, default=None, help="the file to write (default: MODEL with .onnx/.pt2)"
    )
    _add_names(
        export,
        "--dataset",
        choices=datasets_,
        default=None,
        help="whose test set checks the export (default: the model's)",
    )
    export.add_argument(
        "--tolerance",
        type=_non_negative_float,
        default=None,
        help="largest probability difference from PyTorch accepted (default: 1e-4)",
    )
    export.add_argument(
        "--no-check", action="store_true", help="do not run the exported file on the test set"
    )
    export.add_argument("--opset", type=_positive_int, default=None, help="ONNX opset version")

    # ------------------------------------------------------------------ datasets, models
    datasets = sub.add_parser("datasets", help="list, download or verify data sets", parents=[data])
    datasets.add_argument("action", choices=["list", "download", "verify"])
    datasets.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="(default: list all; download mnist and fashion-mnist; verify those present)",
    )

    models = sub.add_parser("models", help="list models, or show one's layers and parameters")
    _add_names(models, "name", nargs="?", choices=models_)

    # ------------------------------------------------------------------ ensemble
    ensemble = sub.add_parser(
        "ensemble",
        help="train recipes with several seeds and write them as one model (mean probabilities)",
        parents=[data, run, train_settings(ENSEMBLE_FIELDS)],
    )
    _add_names(
        ensemble,
        "--recipe",
        choices=recipes_,
        nargs="+",
        default=["best"],
        metavar="RECIPE",
        help="one or more of %(choices)s; several train one member per recipe and seed "
        "(default: best)",
    )
    _add_names(ensemble, "--dataset", choices=datasets_, default="mnist")
    members = ensemble.add_mutually_exclusive_group()
    members.add_argument(
        "--members",
        type=_positive_int,
        default=3,
        help="members, seeded 0, 1, ... (default: %(default)s)",
    )
    members.add_argument(
        "--seeds",
        type=_config_value("seed", int),
        nargs="+",
        default=None,
        metavar="SEED",
        help="the members' seeds",
    )
    ensemble.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: runs/<dataset>-<recipe>[+<recipe>...]-ensemble); run the "
        "same command again to continue an interrupted one",
    )

    # ------------------------------------------------------------------ compare
    compare = sub.add_parser(
        "compare",
        help="compare models on the same test images: each pair's disagreements, exact "
        "McNemar test and the interval of the accuracy difference",
        parents=[data, inference],
    )
    compare.add_argument(
        "models", type=Path, nargs="+", metavar="MODEL", help=_MODEL_HELP + "; two or more"
    )
    _add_names(
        compare,
        "--dataset",
        choices=datasets_,
        default=None,
        help="evaluate every model on this data set (default: the one the models were "
        "trained on, which must be the same for all)",
    )
    compare.add_argument(
        "--split",
        choices=["test", "train"],
        default="test",
        help="the split whose images every model classifies (default: %(default)s)",
    )
    compare.add_argument(
        "--confidence",
        type=_number(float, lambda v: 0 < v < 1, "a number in (0, 1)"),
        default=0.95,
        help="level of the intervals; 1 - confidence is the test's significance level "
        "(default: %(default)s)",
    )
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.add_argument(
        "--figure",
        type=Path,
        default=None,
        metavar="OUT.png",
        help="also draw each pair's disagreements into this PNG file",
    )
    _add_lr_find(sub, data, train_settings(LR_FIND_FIELDS))
    _add_tune(sub, data, train_settings(TUNE_FIELDS))
    return parser


# ------------------------------------------------------------------------- lr-find, tune
#: ``TrainConfig`` fields that ``mnistkit lr-find`` takes as flags (its rate is its own).
LR_FIND_FIELDS = (
    "batch_size",
    "optimizer",
    "weight_decay",
    "label_smoothing",
    "grad_clip",
    "seed",
    "device",
    "precision",
)
#: ``TrainConfig`` fields that ``mnistkit tune`` takes as flags, set in every trial.
TUNE_FIELDS = ("epochs", "batch_size", "seed", "device", "precision")

_positive_float = _number(float, lambda v: v > 0, "a number > 0")


def _add_lr_find(
    sub: argparse._SubParsersAction[_Parser], data: _Parser, settings: _Parser
) -> None:
    """``mnistkit lr-find``: the learning-rate range test of a recipe or model."""
    lr_find = sub.add_parser(
        "lr-find",
        help="learning-rate range test: the loss against a rising rate, and a suggested rate",
        parents=[data, settings],
    )
    # the names are checked by the command, not given as choices: argparse reads an option's
    # choices to show its help, and the registries import PyTorch
    which = lr_find.add_mutually_exclusive_group()
    which.add_argument(
        "--recipe",
        default=None,
        metavar="RECIPE",
        help="test the rate for this recipe's model and settings (see 'mnistkit recipes'; "
        "default: 'default')",
    )
    which.add_argument(
        "--model",
        default=None,
        metavar="MODEL",
        help="test the rate for this model's own recipe (see 'mnistkit models')",
    )
    lr_find.add_argument(
        "--dataset",
        default="mnist",
        metavar="DATASET",
        help="mnist or fashion-mnist (default: %(default)s; see 'mnistkit datasets list')",
    )
    lr_find.add_argument(
        "--steps", type=_positive_int, default=300, help="batches at most (default: %(default)s)"
    )
    lr_find.add_argument(
        "--start-lr", type=_positive_float, default=1e-7, help="first rate (default: %(default)s)"
    )
    lr_find.add_argument(
        "--end-lr", type=_positive_float, default=10.0, help="last rate (default: %(default)s)"
    )
    lr_find.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for lr_find.png and lr_find.json (default: runs/<dataset>-<name>-lr-find)",
    )
    lr_find.add_argument("--no-download", action="store_true", help="fail instead of downloading")


def _add_tune(sub: argparse._SubParsersAction[_Parser], data: _Parser, settings: _Parser) -> None:
    """``mnistkit tune``: an Optuna search over a recipe's fields."""
    tune = sub.add_parser(
        "tune",
        help="search a recipe's settings with Optuna (pruned on a validation split), then "
        "retrain the best and test it once",
        parents=[data, settings],
    )
    # names checked by the command, as for lr-find (no registry, so no PyTorch, for --help)
    tune.add_argument(
        "--recipe",
        default="default",
        metavar="RECIPE",
        help="the recipe whose settings are searched (see 'mnistkit recipes'; default: "
        "%(default)s)",
    )
    tune.add_argument(
        "--dataset",
        default="mnist",
        metavar="DATASET",
        help="mnist or fashion-mnist (default: %(default)s; see 'mnistkit datasets list')",
    )
    tune.add_argument(
        "--param",
        action="append",
        default=None,
        metavar="SPEC",
        help="a search dimension, NAME=log:LOW:HIGH, NAME=float:LOW:HIGH, NAME=int:LOW:HIGH or "
        "NAME=choice:A,B,...; NAME is a training setting or model_config.KEY; repeat for "
        "more (default: lr=log:0.0001:0.03 and weight_decay=log:1e-06:0.1)",
    )
    tune.add_argument(
        "--trials",
        type=_number(int, lambda v: v >= 0, "an integer >= 0"),
        default=20,
        help="trials this process runs; 0 only retrains the study's best (default: %(default)s)",
    )
    tune.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="an Optuna storage URL (sqlite:///study.db, postgresql://..., mysql://...): "
        "processes given the same URL and --study share one study (default: in memory)",
    )
    tune.add_argument(
        "--study", default=None, help="the study's name (default: mnistkit-<recipe>-<dataset>)"
    )
    tune.add_argument(
        "--subset",
        type=_positive_int,
        default=None,
        metavar="N",
        help="search and retrain on the first N training images only",
    )
    tune.add_argument(
        "--val-fraction",
        type=_number(float, lambda v: 0 < v < 1, "a number in (0, 1)"),
        default=0.1,
        help="share of each class the trials validate on (default: %(default)s)",
    )
    tune.add_argument(
        "--monitor",
        default="val_accuracy",
        help="the score: a key of the epoch record; *loss is minimised (default: %(default)s)",
    )
    tune.add_argument(
        "--no-retrain", action="store_true", help="only search (e.g. in a worker process)"
    )
    tune.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for search.json and the retrained model (default: "
        "runs/<dataset>-<recipe>-tune)",
    )
    tune.add_argument("--no-download", action="store_true", help="fail instead of downloading")
