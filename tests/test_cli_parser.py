"""The command line's parser: it keeps every flag it had before it was derived, and the
training flags are derived from ``TrainConfig``'s fields.

``EXPECTED`` was written by running ``_snapshot`` on the hand-written parser of
``mnistkit/cli.py`` at commit 387aaff, before the flags were derived: every option of every
command, with its destination, action, default, choices, ``nargs``, metavar, whether it is
required, whether it takes a path or a checked value, and its mutually exclusive group.
Users' scripts and the documentation use these flags; changing one is an API change.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mnistkit import _choices, devices, distributed, optim
from mnistkit.cli._parser import (
    ENSEMBLE_FIELDS,
    NOT_FLAGS,
    build_parser,
    train_fields,
    with_default_model,
)
from mnistkit.config import TrainConfig
from mnistkit.datasets import list_datasets
from mnistkit.models import list_models
from mnistkit.recipes import list_recipes

ROOT = Path(__file__).resolve().parents[1]
_DEFAULT = ["pretrained:default"]

_ACTIONS = {
    "_StoreAction": "store",
    "_AppendAction": "append",
    "_StoreTrueAction": "store_true",
    "BooleanOptionalAction": "boolean_optional",
    "_VersionAction": "version",
    "_HelpAction": "help",
}

#: What each kind of action implies, left out of ``EXPECTED``.
_IMPLIED: dict[str, dict[str, object]] = {
    "store_true": {"default": False, "nargs": 0},
    "boolean_optional": {"nargs": 0},
    "help": {"default": argparse.SUPPRESS, "nargs": 0},
    "version": {"default": argparse.SUPPRESS, "nargs": 0},
}

Row = dict[str, object]


def _symbolic(choices: Any) -> object:
    """Choices as one string; a registry's names as its label, so that a model or data set
    registered later changes the choices, not the flag."""
    if choices is None:
        return None
    names = " ".join(choices)
    registries = {"<models>": list_models(), "<datasets>": list_datasets()}
    registries["<recipes>"] = list_recipes()
    for label, known in registries.items():
        if names == " ".join(known):
            return label
    return names


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _snapshot(parser: argparse.ArgumentParser) -> dict[str, dict[str, Row]]:
    """Each command's options (``""``: the program's own), keyed by their option strings."""
    found: dict[str, dict[str, Row]] = {}

    def visit(name: str, p: argparse.ArgumentParser) -> None:
        rows: dict[str, Row] = {}
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    visit(sub, subparser)
                continue
            kind = "Path" if action.type is Path else None if action.type is None else "value"
            group = next(
                (
                    sorted(o for a in g._group_actions for o in a.option_strings)
                    for g in p._mutually_exclusive_groups
                    if action in g._group_actions
                ),
                None,
            )
            row: Row = {
                "dest": action.dest,
                "action": _ACTIONS[type(action).__name__],
                "default": _plain(action.default),
                "choices": _symbolic(action.choices),
                "nargs": action.nargs,
                "metavar": action.metavar,
                "required": action.required,
                "type": kind,
                "group": " ".join(group) if group else None,
            }
            # what the option strings and the action imply is left out, to keep EXPECTED short
            longs = [o for o in action.option_strings if o.startswith("--")]
            implied = {
                "dest": longs[0][2:].replace("-", "_") if longs else action.dest,
                "action": "store",
                "default": None,
                "required": False,
                **_IMPLIED.get(str(row["action"]), {}),
            }
            rows[" ".join(action.option_strings) or action.dest] = {
                k: v for k, v in row.items() if v is not None and implied.get(k, ...) != v
            }
        found[name] = rows

    visit("", parser)
    return found


EXPECTED: dict[str, dict[str, Row]] = {
    "": {
        "--version": {"action": "version"},
        "-h --help": {"action": "help"},
        "-v --verbose": {"action": "store_true"},
    },
    # added for paired comparisons (issue 26)
    "compare": {
        "--confidence": {"default": 0.95, "type": "value"},
        "--data-dir": {"type": "Path"},
        "--dataset": {"choices": "<datasets>", "metavar": "DATASET"},
        "--device": {"default": "auto"},
        "--figure": {"metavar": "OUT.png", "type": "Path"},
        "--json": {"action": "store_true"},
        "--precision": {"default": "auto", "choices": "32 bf16-mixed 16-mixed auto"},
        "--split": {"default": "test", "choices": "test train"},
        "--tta": {"action": "store_true"},
        "-h --help": {"action": "help"},
        "models": {"nargs": "+", "metavar": "MODEL", "required": True, "type": "Path"},
    },
    "datasets": {
        "--data-dir": {"type": "Path"},
        "-h --help": {"action": "help"},
        "action": {"choices": "list download verify", "required": True},
        "names": {"nargs": "*", "metavar": "NAME", "required": True},
    },
    "ensemble": {
        "--data-dir": {"type": "Path"},
        "--dataset": {"default": "mnist", "choices": "<datasets>", "metavar": "DATASET"},
        "--device": {},
        "--epochs": {"type": "value"},
        "--members": {"default": 3, "type": "value", "group": "--members --seeds"},
        "--no-download": {"action": "store_true"},
        "--out": {"type": "Path"},
        "--precision": {"choices": "32 bf16-mixed 16-mixed auto"},
        "--quiet": {"action": "store_true"},
        "--recipe": {
            "default": ("best",),
            "choices": "<recipes>",
            "nargs": "+",
            "metavar": "RECIPE",
        },
        "--seeds": {"nargs": "+", "metavar": "SEED", "type": "value", "group": "--members --seeds"},
        "-h --help": {"action": "help"},
    },
    "evaluate": {
        "--data-dir": {"type": "Path"},
        "--dataset": {"choices": "<datasets>", "metavar": "DATASET"},
        "--device": {"default": "auto"},
        "--json": {"action": "store_true"},
        # "is this even a digit?" (issue 26)
        "--ood": {"choices": "<datasets>", "metavar": "DATASET"},
        "--ood-plot": {"metavar": "OUT.png", "type": "Path"},
        "--precision": {"default": "auto", "choices": "32 bf16-mixed 16-mixed auto"},
        "--split": {"default": "test"},
        "--tta": {"action": "store_true"},
        "-h --help": {"action": "help"},
        "model": {"required": True, "type": "Path"},
    },
    "export": {
        "--data-dir": {"type": "Path"},
        "--dataset": {"choices": "<datasets>", "metavar": "DATASET"},
        "--format": {"choices": "onnx pt2"},
        "--no-check": {"action": "store_true"},
        "--opset": {"type": "value"},
        "--out": {"type": "Path"},
        "--tolerance": {"type": "value"},
        "-h --help": {"action": "help"},
        "model": {"required": True, "type": "Path"},
    },
    "models": {
        "-h --help": {"action": "help"},
        "name": {"choices": "<models>", "nargs": "?"},
    },
    "predict": {
        "--device": {"default": "auto"},
        "--json": {"action": "store_true"},
        "--precision": {"default": "auto", "choices": "32 bf16-mixed 16-mixed auto"},
        # added for photographs (issue 31)
        "--preprocessing": {"default": "auto", "choices": "auto clean photo"},
        "--reject": {"action": "store_true"},  # issue 26
        "--show": {"metavar": "OUT.png", "type": "Path"},
        "--tta": {"action": "store_true"},
        "-h --help": {"action": "help"},
        "images": {"nargs": "+", "metavar": "IMAGE", "required": True, "type": "Path"},
        # [MODEL]: mnistkit predict IMAGE... uses the bundled default (with_default_model)
        "model": {"metavar": "[MODEL]", "required": True, "type": "Path"},
    },
    "recipes": {
        "-h --help": {"action": "help"},
    },
    # a model file's "not a digit" threshold (issue 26)
    "threshold": {
        "--data-dir": {"type": "Path"},
        "--dataset": {"choices": "<datasets>", "metavar": "DATASET"},
        "--keep": {"default": 0.99, "type": "value"},
        "--out": {"type": "Path"},
        "--score": {"choices": "msp energy"},
        "--seed": {"default": 0, "type": "value"},
        "--split": {"choices": "val train", "default": "val"},
        "--val-fraction": {"default": 0.1, "type": "value"},
        "-h --help": {"action": "help"},
        "model": {"required": True, "type": "Path"},
    },
    "train": {
        "--batch-size": {"type": "value"},
        "--channels-last --no-channels-last": {"action": "boolean_optional"},
        "--compile --no-compile": {"action": "boolean_optional"},
        "--data-dir": {"type": "Path"},
        "--dataset": {"default": "mnist", "choices": "<datasets>", "metavar": "DATASET"},
        "--device": {},
        "--epochs": {"type": "value"},
        "--grad-clip": {"type": "value"},
        "--label-smoothing": {"type": "value"},
        "--lr": {"type": "value"},
        "--model": {"choices": "<models>"},
        "--no-download": {"action": "store_true"},
        "--optimizer": {"choices": "sgd momentum adam adamw adadelta"},
        "--out": {"type": "Path"},
        "--outlier-exposure": {"type": "value"},
        "--precision": {"choices": "32 bf16-mixed 16-mixed auto"},
        "--quiet": {"action": "store_true"},
        # no --recipe: the --model's own recipe, else default (recipes.resolve_recipe)
        "--recipe": {"choices": "<recipes>", "metavar": "RECIPE"},
        "--resume": {"action": "store_true"},
        "--schedule": {"choices": "none step cosine onecycle"},
        "--seed": {"type": "value"},
        "--tensorboard": {"metavar": "DIR", "type": "Path"},
        "--mlflow": {"nargs": "?", "metavar": "URI"},  # added by issue 28
        "--val-fraction": {"default": 0.1, "type": "value"},
        "--weight-decay": {"type": "value"},
        "-h --help": {"action": "help"},
    },
    # the commands of issue 28
    "lr-find": {
        "--batch-size": {"type": "value"},
        "--data-dir": {"type": "Path"},
        "--dataset": {"default": "mnist", "metavar": "DATASET"},
        "--device": {},
        "--end-lr": {"default": 10.0, "type": "value"},
        "--grad-clip": {"type": "value"},
        "--label-smoothing": {"type": "value"},
        "--model": {"group": "--model --recipe", "metavar": "MODEL"},
        "--no-download": {"action": "store_true"},
        "--optimizer": {"choices": "sgd momentum adam adamw adadelta"},
        "--out": {"type": "Path"},
        "--precision": {"choices": "32 bf16-mixed 16-mixed auto"},
        "--recipe": {"group": "--model --recipe", "metavar": "RECIPE"},
        "--seed": {"type": "value"},
        "--start-lr": {"default": 1e-07, "type": "value"},
        "--steps": {"default": 300, "type": "value"},
        "--weight-decay": {"type": "value"},
        "-h --help": {"action": "help"},
    },
    "tune": {
        "--batch-size": {"type": "value"},
        "--data-dir": {"type": "Path"},
        "--dataset": {"default": "mnist", "metavar": "DATASET"},
        "--device": {},
        "--epochs": {"type": "value"},
        "--monitor": {"default": "val_accuracy"},
        "--no-download": {"action": "store_true"},
        "--no-retrain": {"action": "store_true"},
        "--out": {"type": "Path"},
        "--param": {"action": "append", "metavar": "SPEC"},
        "--precision": {"choices": "32 bf16-mixed 16-mixed auto"},
        "--recipe": {"default": "default", "metavar": "RECIPE"},
        "--seed": {"type": "value"},
        "--storage": {"metavar": "URL"},
        "--study": {},
        "--subset": {"metavar": "N", "type": "value"},
        "--trials": {"default": 20, "type": "value"},
        "--val-fraction": {"default": 0.1, "type": "value"},
        "-h --help": {"action": "help"},
    },
}


def test_every_flag_of_every_command_is_kept() -> None:
    assert _snapshot(build_parser()) == EXPECTED


def test_every_train_config_field_is_a_flag_or_says_why_not() -> None:
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert set(NOT_FLAGS) <= set(names)  # no reason kept for a field that is gone
    assert all(reason.strip() for reason in NOT_FLAGS.values())
    assert train_fields() == tuple(n for n in names if n not in NOT_FLAGS)
    train = _subparsers(build_parser())["train"]
    dests = {a.dest: a for a in train._actions}
    for name in names:
        assert (name in dests) != (name in NOT_FLAGS), name
    assert set(ENSEMBLE_FIELDS) <= set(train_fields())


def test_training_flags_are_derived_from_the_fields() -> None:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    commands = _subparsers(build_parser())
    for command, names in (("train", train_fields()), ("ensemble", ENSEMBLE_FIELDS)):
        actions = {a.dest: a for a in commands[command]._actions}
        for name in names:
            action, field = actions[name], fields[name]
            assert action.option_strings[0] == "--" + name.replace("_", "-")
            assert action.help == field.metadata["help"]
            assert action.default is None  # not given: the recipe's value
            if "choices" in field.metadata:
                assert action.choices == list(field.metadata["choices"])


# what a number flag is given, as text, and which of these each flag accepts: exactly what
# TrainConfig accepts for the field (a whole number where it takes an int; 2**32 is no seed)
PROBES = ("-1", "0", "0.5", "1", "2", "4294967296", "inf", "nan", "x", "")
ACCEPTED = {
    "epochs": {"1", "2", "4294967296"},
    "batch_size": {"1", "2", "4294967296"},
    "seed": {"0", "1", "2"},
    "lr": {"0.5", "1", "2", "4294967296"},
    "grad_clip": {"0.5", "1", "2", "4294967296"},
    "weight_decay": {"0", "0.5", "1", "2", "4294967296"},
    "label_smoothing": {"0", "0.5"},
    "outlier_exposure": {"0", "0.5", "1", "2", "4294967296"},
}


def _number_flags() -> dict[str, argparse.Action]:
    train = _subparsers(build_parser())["train"]
    return {
        a.dest: a
        for a in train._actions
        if a.dest in train_fields() and a.type is not None and not a.choices
    }


def test_each_number_flag_has_its_accepted_values_here() -> None:
    assert set(_number_flags()) == set(ACCEPTED)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_a_number_flag_accepts_what_train_config_accepts(name: str) -> None:
    convert: Callable[[str], float] = _number_flags()[name].type  # type: ignore[assignment]
    assert callable(convert)
    for text in PROBES:
        if text in ACCEPTED[name]:
            value = convert(text)
            assert math.isfinite(value)
            assert TrainConfig().replace(**{name: value}).to_dict()[name] == value
            continue
        with pytest.raises(argparse.ArgumentTypeError) as info:
            convert(text)
        # the message says what would be accepted, from TrainConfig's own check
        message = str(info.value)
        assert message.startswith("expected ") and message.endswith(f"got {text!r}")
        assert "None" not in message  # a flag cannot be given None


def test_setting_names_have_one_torch_free_home() -> None:
    assert devices.PRECISIONS is _choices.PRECISIONS
    assert distributed.STRATEGIES is _choices.STRATEGIES
    # optim maps each name to its implementation: the same names, in the same order
    assert tuple(optim.OPTIMIZERS) == _choices.OPTIMIZER_NAMES
    assert tuple(optim.SCHEDULES) == _choices.SCHEDULE_NAMES


#: What the command-line package may import when it is imported: no PyTorch and none of the
#: modules that need it; a command imports the library when it runs.
CHEAP = {"mnistkit._choices", "mnistkit._version", "mnistkit.config", "mnistkit.exceptions"}


def test_the_cli_imports_the_library_only_inside_its_commands() -> None:
    for path in sorted((ROOT / "mnistkit" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level; imports inside functions are the point
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "mnistkit":
                    assert name in CHEAP or name.startswith("mnistkit.cli."), (path.name, name)
                else:
                    assert top not in {"torch", "numpy", "matplotlib"}, (path.name, name)


def test_building_the_parser_reads_no_registry() -> None:
    # the registries import PyTorch; --version and the program's --help need none of them
    from mnistkit.cli._parser import _Names

    parser = build_parser()
    lazy = [
        action.choices
        for sub in _subparsers(parser).values()
        for action in sub._actions
        if isinstance(action.choices, _Names)
    ]
    # --recipe, --dataset, --model, and the other commands' ones (compare --dataset;
    # evaluate --ood and threshold --dataset: issue 26)
    assert len(lazy) == 11
    assert all(names._names is None for names in lazy)
    with pytest.raises(SystemExit):
        parser.parse_args(["--version"])
    assert all(names._names is None for names in lazy)
    args = parser.parse_args(["models", "lenet5"])
    assert args.name == "lenet5"
    (name,) = (a for a in _subparsers(parser)["models"]._actions if a.dest == "name")
    read = [names for names in lazy if names._names is not None]
    assert read and all(names is name.choices for names in read)  # the models' names only


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["predict", "a.png"], ["predict", "pretrained:default", "a.png"]),
        (["predict", "m.safetensors", "a.png"], ["predict", "m.safetensors", "a.png"]),
        (["predict", "pretrained:best", "a.png"], ["predict", "pretrained:best", "a.png"]),
        (
            ["-v", "predict", "--device", "cpu", "--json", "a.png", "b.png"],
            ["-v", "predict", "--device", "cpu", "--json", "pretrained:default", "a.png", "b.png"],
        ),
        (["predict", "--precision=32", "a.png"], ["predict", "--precision=32", *_DEFAULT, "a.png"]),
        (["train", "--model", "mlp"], ["train", "--model", "mlp"]),
        (["evaluate", "predict.png"], ["evaluate", "predict.png"]),
        (["predict"], ["predict"]),
    ],
)
def test_predict_without_a_model_uses_the_bundled_default(
    argv: list[str], expected: list[str]
) -> None:
    assert with_default_model(build_parser(), argv) == expected
