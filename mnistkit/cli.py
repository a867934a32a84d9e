"""The ``mnistkit`` command line: a thin layer over the public API.

Commands: ``train``, ``ensemble``, ``evaluate``, ``predict``, ``export``,
``datasets list|download|verify``,
``models``, ``recipes``.
Exit codes: 0 on success; 2 for bad arguments or bad input files (a one-line message on
standard error, no traceback); 1 for anything else; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from torch import nn

__all__ = ["main"]

log = logging.getLogger("mnistkit")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command-line usage; reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


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
_positive_float = _number(float, lambda v: v > 0, "a positive number")
_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_non_negative_float = _number(float, lambda v: v >= 0, "a number >= 0")


def _build_parser() -> argparse.ArgumentParser:
    from mnistkit import __version__
    from mnistkit.datasets import list_datasets
    from mnistkit.devices import PRECISIONS
    from mnistkit.models import list_models
    from mnistkit.optim import OPTIMIZERS, SCHEDULES
    from mnistkit.recipes import list_recipes

    parser = _Parser(
        prog="mnistkit",
        description="Train, evaluate and use digit classifiers on MNIST and Fashion-MNIST.",
    )
    parser.add_argument("--version", action="version", version=f"mnistkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    data_help = "data folder holding <name>/ (default: $MNISTKIT_DATA_DIR or ~/.cache/mnistkit)"

    train = sub.add_parser("train", help="train a model and write it with its metrics and plots")
    recipe_help = "(default: the recipe's)"
    train.add_argument(
        "--recipe",
        choices=list_recipes(),
        default=None,
        help="a named model + settings bundle; the flags below override its fields "
        "(see 'mnistkit recipes'; default: the --model's own recipe, else 'default')",
    )
    train.add_argument("--dataset", choices=list_datasets(), default="mnist")
    train.add_argument(
        "--model",
        choices=list_models(),
        default=None,
        help="alone: train the recipe of this name; with --recipe: that recipe's settings "
        "with this model (default: the recipe's)",
    )
    train.add_argument("--epochs", type=_positive_int, default=None, help=recipe_help)
    train.add_argument("--batch-size", type=_positive_int, default=None, help=recipe_help)
    train.add_argument("--lr", type=_positive_float, default=None, help=recipe_help)
    train.add_argument("--optimizer", choices=list(OPTIMIZERS), default=None, help=recipe_help)
    train.add_argument("--schedule", choices=list(SCHEDULES), default=None, help=recipe_help)
    train.add_argument("--weight-decay", type=_non_negative_float, default=None, help=recipe_help)
    train.add_argument("--label-smoothing", type=_fraction, default=None, help=recipe_help)
    train.add_argument(
        "--grad-clip", type=_positive_float, default=None, help="clip the gradients' L2 norm"
    )
    train.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        help="hold out this share of each class of the training set and validate on it after "
        "every epoch (default: %(default)s; 0 trains on all of it, without validation)",
    )
    train.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
    train.add_argument("--precision", choices=list(PRECISIONS), default=None, help=recipe_help)
    train.add_argument("--seed", type=int, default=None, help="(default: 0)")
    train.add_argument("--data-dir", type=Path, default=None, help=data_help)
    train.add_argument("--no-download", action="store_true", help="fail instead of downloading")
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
        help="also log the run for TensorBoard into DIR (needs mnistkit[tensorboard])",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use torch.compile for the steps (default: the recipe's)",
    )
    train.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last memory format for the convolutions (default: the recipe's)",
    )

    sub.add_parser("recipes", help="list the recipes 'train --recipe' accepts")

    tta_help = (
        "test-time augmentation: average the probabilities of each image and of its copies "
        "moved one pixel right, left, down and up (5 forward passes), and of their mirror "
        "images for a data set whose classes mirroring keeps (clothes: 10 passes)"
    )
    evaluate = sub.add_parser("evaluate", help="evaluate a saved model on a test set")
    evaluate.add_argument("model", type=Path, help="a .safetensors file written by 'train'")
    evaluate.add_argument(
        "--dataset", choices=list_datasets(), default=None, help="(default: the model's)"
    )
    evaluate.add_argument("--data-dir", type=Path, default=None, help=data_help)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument(
        "--precision",
        choices=list(PRECISIONS),
        default="auto",
        help="autocast for inference; 'auto' is bfloat16 where the hardware computes it, as "
        "training used (default: %(default)s)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--tta", action="store_true", help=tta_help)

    predict = sub.add_parser("predict", help="classify image files (PNG, JPEG, ...)")
    predict.add_argument("model", type=Path, help="a .safetensors file written by 'train'")
    predict.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    predict.add_argument("--device", default="auto")
    predict.add_argument(
        "--precision", choices=list(PRECISIONS), default="auto", help="(default: %(default)s)"
    )
    predict.add_argument("--json", action="store_true", help="print JSON lines")
    predict.add_argument("--tta", action="store_true", help=tta_help)

    export = sub.add_parser(
        "export",
        help="export a saved model to ONNX or a torch.export program, checked on the test set",
    )
    export.add_argument("model", type=Path, help="a .safetensors file written by 'train'")
    export.add_argument(
        "--format",
        choices=["onnx", "pt2"],
        default=None,
        help="(default: from --out's suffix, else onnx)",
    )
    export.add_argument(
        "--out", type=Path, default=None, help="the file to write (default: MODEL with .onnx/.pt2)"
    )
    export.add_argument(
        "--dataset",
        choices=list_datasets(),
        default=None,
        help="whose test set checks the export (default: the model's)",
    )
    export.add_argument("--data-dir", type=Path, default=None, help=data_help)
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

    data = sub.add_parser("datasets", help="list, download or verify data sets")
    data.add_argument("action", choices=["list", "download", "verify"])
    data.add_argument("names", nargs="*", metavar="NAME", help="(default: all)")
    data.add_argument("--data-dir", type=Path, default=None, help=data_help)

    models = sub.add_parser("models", help="list models, or show one's layers and parameters")
    models.add_argument("name", nargs="?", choices=list_models())
    _add_ensemble_parser(sub, data_help)
    return parser


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
        parser = _build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="mnistkit: %(message)s",
        )
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        handler = {
            "train": _train,
            "evaluate": _evaluate,
            "predict": _predict,
            "export": _export,
            "datasets": _datasets,
            "models": _models,
            "recipes": _recipes,
            "ensemble": _ensemble,
        }[args.command]
        return handler(args)
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
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except OSError as exc:  # e.g. an output folder that cannot be written
        _error(str(exc))
        return EXIT_FAILURE


def _error(message: str) -> None:
    first, _, rest = message.partition("\n")
    sys.stderr.write(f"mnistkit: error: {first}\n")
    if rest:  # multi-line messages (e.g. every mirror tried) keep their detail, indented
        sys.stderr.write("".join(f"  {line}\n" for line in rest.splitlines()))


def _out(text: str = "") -> None:
    from mnistkit.distributed import is_main_process

    if is_main_process():  # under torchrun, rank 0 speaks for the run
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


# ---------------------------------------------------------------------------------- train
#: ``train`` flags that override a recipe's field of the same name when given.
_RECIPE_FLAGS = (
    "model",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "schedule",
    "weight_decay",
    "label_smoothing",
    "grad_clip",
    "device",
    "precision",
    "seed",
    "compile",
    "channels_last",
)


def _run_folder(given: Path | None, default_name: str) -> Path:
    """A training command's output folder: ``--out``, else ``runs/<default_name>``."""
    from mnistkit.exceptions import ConfigError

    out = given or Path("runs") / default_name
    if out.exists() and not out.is_dir():
        raise ConfigError(f"Argument '--out' must be a folder, but {str(out)!r} is a file")
    return out


def _flags_given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, object]:
    """The recipe fields set on the command line: they override the recipe's values."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _train(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # the command writes figures to files; it never opens a window

    from mnistkit.callbacks import Callback, EpochLog
    from mnistkit.recipes import resolve_recipe
    from mnistkit.run import run_training

    out = _run_folder(args.out, f"{args.dataset}-{args.model or args.recipe or 'default'}")
    overrides = _flags_given(args, _RECIPE_FLAGS)
    recipe = resolve_recipe(args.recipe, model=args.model).replace(
        progress=not args.quiet and sys.stderr.isatty(), **overrides
    )
    callbacks: list[Callback] = [EpochLog(sys.stdout)]
    if args.tensorboard is not None:  # built first: a missing extra fails before training
        from mnistkit.tensorboard import TensorBoardLogger

        callbacks.append(TensorBoardLogger(args.tensorboard))
    _out(f"mnistkit train: recipe {recipe.name!r}, {recipe.model} on {args.dataset} -> {out}/")
    try:
        result = run_training(
            out,
            recipe=recipe,
            dataset=args.dataset,
            val_fraction=args.val_fraction,
            data_dir=args.data_dir,
            download=not args.no_download,
            resume=args.resume,
            callbacks=callbacks,
        )
    except KeyboardInterrupt:
        _error(f"interrupted; continue with: mnistkit train --resume --out {out} (same options)")
        return EXIT_INTERRUPTED
    accuracy, seconds = result.report.accuracy, result.metrics["train_seconds"]
    _out(
        f"test accuracy {accuracy:.4f} ({accuracy:.2%})  train time {seconds:.1f}s  "
        f"-> {result.model_path}"
    )
    return EXIT_OK


# ---------------------------------------------------------------------------------- evaluate
def _with_tta(model: nn.Module, tta: bool, dataset: str | None) -> nn.Module:
    """``model`` inside the views ``--tta`` asks for: mirrored too if ``dataset`` allows."""
    from mnistkit import datasets
    from mnistkit.models import TestTimeAugmentation

    if not tta:
        return model
    flip = False
    if dataset is not None and dataset in datasets.list_datasets():
        flip = datasets.get_info(dataset).mirror_symmetric
    return TestTimeAugmentation(model, flip=flip)


def _evaluate(args: argparse.Namespace) -> int:
    from mnistkit import datasets
    from mnistkit.checkpoints import load_model
    from mnistkit.exceptions import ConfigError
    from mnistkit.inference import predict_proba
    from mnistkit.metrics import Report
    from mnistkit.models import TestTimeAugmentation

    loaded = load_model(args.model, device=args.device)
    name = args.dataset or loaded.metadata.dataset
    if name is None:
        raise ConfigError(f"{args.model}: the model file names no data set; pass --dataset.")
    data = datasets.load(name, root=args.data_dir)
    if len(loaded.metadata.classes) != len(data.classes):
        raise ConfigError(
            f"{args.model}: the model has {len(loaded.metadata.classes)} classes but {name} has "
            f"{len(data.classes)}."
        )
    model = _with_tta(loaded.model, args.tta, name)
    probs = predict_proba(model, data.test.images, precision=args.precision)
    report = Report.from_probabilities(probs, data.test.labels, classes=data.classes)
    tta = None
    if isinstance(model, TestTimeAugmentation):
        tta = {"shifts": [list(s) for s in model.shifts], "flip": model.flip}
    if args.json:
        facts = {"model": str(args.model), "dataset": name, "tta": tta}
        _out(json.dumps({**facts, **report.to_dict()}, indent=2))
    else:
        views = ""
        if isinstance(model, TestTimeAugmentation):
            views = f", test-time augmentation over {model.num_views} views"
        _out(f"{args.model} on {name} test ({len(data.test)} images{views})")
        _out(str(report))
    return EXIT_OK


# ---------------------------------------------------------------------------------- predict
def _predict(args: argparse.Namespace) -> int:
    from mnistkit.checkpoints import load_model
    from mnistkit.imaging import load_images
    from mnistkit.inference import predict_proba

    loaded = load_model(args.model, device=args.device)
    images = load_images(args.images)  # every file checked before any output
    model = _with_tta(loaded.model, args.tta, loaded.metadata.dataset)
    probs = predict_proba(model, images, precision=args.precision)
    classes = loaded.metadata.classes
    for path, row in zip(args.images, probs, strict=True):
        index = int(row.argmax())
        label = classes[index] if index < len(classes) else str(index)
        if args.json:
            _out(
                json.dumps(
                    {
                        "path": str(path),
                        "label": label,
                        "index": index,
                        "probability": float(row[index]),
                        "probabilities": {
                            (classes[i] if i < len(classes) else str(i)): round(float(p), 6)
                            for i, p in enumerate(row)
                        },
                    }
                )
            )
        else:
            _out(f"{path} {label} {float(row[index]):.4f}")
    return EXIT_OK


# ---------------------------------------------------------------------------------- export
def _export(args: argparse.Namespace) -> int:
    from mnistkit import datasets
    from mnistkit.checkpoints import load_model
    from mnistkit.deploy import DEFAULT_TOLERANCE, export
    from mnistkit.exceptions import ConfigError

    format = args.format
    if format is None:
        suffix = args.out.suffix.lower() if args.out is not None else ""
        format = "pt2" if suffix == ".pt2" else "onnx"
    out: Path = args.out or args.model.with_suffix("." + format)
    if out.resolve() == args.model.resolve():
        raise ConfigError(f"Argument '--out' names the model file itself: {str(out)!r}")
    if out.is_dir():
        raise ConfigError(f"Argument '--out' must be a file, but {str(out)!r} is a folder")
    loaded = load_model(args.model)
    images = None
    name = args.dataset or loaded.metadata.dataset
    if not args.no_check:
        if name is None:
            raise ConfigError(
                f"{args.model}: the model file names no data set to check the export on; "
                "pass --dataset, or --no-check"
            )
        images = datasets.load(name, root=args.data_dir).test.images
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    result = export(
        loaded,
        out,
        format=format,
        dataset=name,
        check_images=images,
        tolerance=tolerance,
        opset=args.opset,
    )
    _out(f"wrote {result.path} ({format}, {result.size / 1e6:.2f} MB)")
    if result.check is not None:
        _out(f"checked on the {name} test set: {result.check}")
    return EXIT_OK


# ---------------------------------------------------------------------------------- datasets
def _datasets(args: argparse.Namespace) -> int:
    from mnistkit import datasets
    from mnistkit.exceptions import DatasetNotFoundError

    names = args.names or datasets.list_datasets()
    infos = [datasets.get_info(n) for n in names]
    root = datasets.data_dir(args.data_dir)
    if args.action == "list":
        for info in infos:
            folder = root / info.name
            try:
                datasets.verify(info.name, root=root)
                state = "verified"
            except DatasetNotFoundError:
                state = "not downloaded"
            except Exception as exc:  # report, don't stop the listing
                state = f"damaged: {exc}"
            _out(f"{info.name:<15} {info.title:<35} {len(info.classes)} classes  {state}  {folder}")
        return EXIT_OK
    if args.action == "download":
        for info in infos:
            data = datasets.load(info.name, root=root, download=True)
            where = root / info.name
            _out(f"{info.name}: {len(data.train)} train + {len(data.test)} test images in {where}")
        return EXIT_OK
    for info in infos:
        result = datasets.verify(info.name, root=root)
        for path, status in result.items():
            _out(f"{status}  {path}")
    return EXIT_OK


# ---------------------------------------------------------------------------------- models
def _models(args: argparse.Namespace) -> int:
    from mnistkit.models import get_model, list_models, summary

    if args.name is None:
        for name in list_models():
            params = sum(p.numel() for p in get_model(name).parameters())
            _out(f"{name:<8} {params:>9,} parameters")
        return EXIT_OK
    _out(str(summary(get_model(args.name))))
    return EXIT_OK


# ---------------------------------------------------------------------------------- recipes
def _recipes(args: argparse.Namespace) -> int:
    from mnistkit.recipes import get_recipe, list_recipes

    for name in list_recipes():
        recipe = get_recipe(name)
        cfg = recipe.config
        _out(
            f"{name:<10} {recipe.model:<7} {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"{cfg.optimizer}/{cfg.schedule}, precision {cfg.precision}: {recipe.summary}"
        )
    return EXIT_OK


# ---------------------------------------------------------------------------------- ensemble
def _add_ensemble_parser(sub: argparse._SubParsersAction[_Parser], data_help: str) -> None:
    from mnistkit.datasets import list_datasets
    from mnistkit.devices import PRECISIONS
    from mnistkit.recipes import list_recipes

    ensemble = sub.add_parser(
        "ensemble",
        help="train recipes with several seeds and write them as one model (mean probabilities)",
    )
    ensemble.add_argument(
        "--recipe",
        choices=list_recipes(),
        nargs="+",
        default=["best"],
        metavar="RECIPE",
        help="one or more of %(choices)s; several train one member per recipe and seed "
        "(default: best)",
    )
    ensemble.add_argument("--dataset", choices=list_datasets(), default="mnist")
    group = ensemble.add_mutually_exclusive_group()
    group.add_argument(
        "--members",
        type=_positive_int,
        default=3,
        help="members, seeded 0, 1, ... (default: %(default)s)",
    )
    group.add_argument(
        "--seeds", type=int, nargs="+", default=None, metavar="SEED", help="the members' seeds"
    )
    ensemble.add_argument(
        "--epochs", type=_positive_int, default=None, help="(default: the recipe's)"
    )
    ensemble.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
    ensemble.add_argument(
        "--precision", choices=list(PRECISIONS), default=None, help="(default: the recipe's)"
    )
    ensemble.add_argument("--data-dir", type=Path, default=None, help=data_help)
    ensemble.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    ensemble.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: runs/<dataset>-<recipe>[+<recipe>...]-ensemble); run the "
        "same command again to continue an interrupted one",
    )
    ensemble.add_argument("--quiet", action="store_true", help="no progress bar")


def _ensemble(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from mnistkit.callbacks import EpochLog
    from mnistkit.recipes import get_recipe
    from mnistkit.run import run_ensemble

    names: list[str] = args.recipe
    out = _run_folder(args.out, f"{args.dataset}-{'+'.join(names)}-ensemble")
    overrides = _flags_given(args, ("epochs", "device", "precision"))
    progress = not args.quiet and sys.stderr.isatty()
    recipes = [get_recipe(name).replace(progress=progress, **overrides) for name in names]
    seeds = args.seeds if args.seeds is not None else list(range(args.members))
    _out(
        f"mnistkit ensemble: recipe{'s' if len(names) > 1 else ''} "
        f"{', '.join(map(repr, names))} on {args.dataset}, seeds "
        f"{', '.join(map(str, seeds))} -> {out}/"
    )
    try:
        result = run_ensemble(
            out,
            recipe=recipes,
            dataset=args.dataset,
            seeds=seeds,
            data_dir=args.data_dir,
            download=not args.no_download,
            callbacks=[EpochLog(sys.stdout)],
        )
    except KeyboardInterrupt:
        _error("interrupted; continue with the same command (finished members are kept)")
        return EXIT_INTERRUPTED
    for member in result.metrics["members"]:
        _out(f"  {member['folder']}: test accuracy {member['test_accuracy']:.4f}")
    accuracy = result.report.accuracy
    _out(f"ensemble test accuracy {accuracy:.4f} ({accuracy:.2%}) -> {result.model_path}")
    return EXIT_OK
