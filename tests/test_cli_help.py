"""Every command's ``--help`` answers without PyTorch, NumPy or Matplotlib (issue 30).

The commands are found in the parser itself, so a command added later is checked too. One
fresh interpreter prints every command's help, which keeps the test cheap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mnistkit import _choices

ROOT = Path(__file__).resolve().parents[1]

#: Imported by none of the ``--help`` answers (``import torch`` alone takes seconds).
HEAVY = ("torch", "numpy", "matplotlib", "PIL", "scipy", "skimage", "torchvision")

_EVERY_HELP = """
import argparse, contextlib, io, json, sys
from mnistkit.cli import main
from mnistkit.cli._parser import build_parser

def commands(parser, path):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield [*path, name]
                yield from commands(sub, [*path, name])

found, texts = list(commands(build_parser(), [])), {}
for argv in [[], *found]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([*argv, "--help"])
        except SystemExit as exc:
            code = exc.code
    texts[" ".join(argv)] = [code, out.getvalue(), err.getvalue()]
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
print(json.dumps({"texts": texts, "heavy": heavy}))
"""


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_command_help_answers_without_torch_numpy_or_matplotlib() -> None:
    answer = json.loads(_python(f"HEAVY = {HEAVY!r}\n" + _EVERY_HELP))
    texts: dict[str, list[object]] = answer["texts"]
    # the walk found the commands (nested ones too, such as `datasets list` if it is one)
    assert {"train", "evaluate", "predict", "export", "ensemble", "recipes", "models"} <= set(texts)
    for command, (code, out, err) in texts.items():
        assert code == 0, (command, err)
        assert isinstance(out, str) and out.startswith("usage: mnistkit"), command
    # the registries' names are offered without the registries
    train = texts["train"][1]
    assert isinstance(train, str)
    assert "{" + ",".join(_choices.MODEL_NAMES) + "}" in train
    assert "--dataset DATASET" in train  # ten names and more: named by a metavar
    assert answer["heavy"] == []


def test_built_in_names_are_the_registries_names_and_a_loaded_registry_is_asked() -> None:
    # a fresh interpreter: this session's tests register models and recipes of their own
    code = (
        "import json\n"
        "from torch import nn\n"
        "from mnistkit import _choices\n"
        "from mnistkit.datasets import list_datasets\n"
        "from mnistkit.models import list_models, register_model\n"
        "from mnistkit.recipes import list_recipes\n"
        "print(json.dumps([list_models(), list_datasets(), list_recipes()]))\n"
        "register_model('tiny_for_cli', lambda: nn.Linear(784, 10))\n"
        "print(json.dumps(list(_choices.registered('models'))))\n"
    )
    first, second = _python(code).splitlines()
    models, datasets, recipes = json.loads(first)
    assert tuple(models) == _choices.MODEL_NAMES
    assert tuple(datasets) == _choices.DATASET_NAMES
    assert tuple(recipes) == _choices.RECIPE_NAMES
    # once a registry is loaded, what was registered from Python is offered as well
    assert json.loads(second) == sorted([*_choices.MODEL_NAMES, "tiny_for_cli"])
