"""The ``mnistkit`` commands, one function each (private to :mod:`mnistkit.cli`).

Each takes the parsed arguments, calls the public API and prints the result on standard
output; it returns nothing and reports a failure by raising (``mnistkit.cli.main`` turns an
exception into the one-line message and the exit code). The library, and with it PyTorch,
is imported inside each function, so that ``--help`` and ``--version`` need none of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mnistkit.checkpoints import LoadedModel
    from mnistkit.datasets import Split
    from mnistkit.mlflow import MLflowLogger
    from mnistkit.recipes import Recipe

__all__ = ["COMMANDS"]


def _out(text: str = "") -> None:
    from mnistkit.distributed import is_main_process

    if is_main_process():  # under torchrun, rank 0 speaks for the run
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _load_model(spec: Path, device: str = "cpu") -> LoadedModel:
    """A model file, or ``pretrained:NAME`` for a bundled one (checksum verified)."""
    from mnistkit import pretrained
    from mnistkit.checkpoints import load_model

    if str(spec).startswith(pretrained.PREFIX):
        return pretrained.load(str(spec), device=device)
    return load_model(spec, device=device)


# ---------------------------------------------------------------------------------- train
def _run_folder(given: Path | None, default_name: str) -> Path:
    """A training command's output folder: ``--out``, else ``runs/<default_name>``."""
    from mnistkit.exceptions import ConfigError

    out = given or Path("runs") / default_name
    if out.exists() and not out.is_dir():
        raise ConfigError(f"Argument '--out' must be a folder, but {str(out)!r} is a file")
    return out


def _recipe_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The recipe fields (its own and its ``TrainConfig``'s) given on the command line."""
    from mnistkit.config import TrainConfig
    from mnistkit.recipes import Recipe

    fields = {f.name for f in (*dataclasses.fields(Recipe), *dataclasses.fields(TrainConfig))}
    return {k: v for k, v in vars(args).items() if k in fields and v is not None}


def train_command(args: argparse.Namespace) -> None:
    """``mnistkit train``: :func:`mnistkit.run_training` with the recipe and flags given."""
    import matplotlib

    matplotlib.use("Agg")  # the command writes figures to files; it never opens a window

    from mnistkit.callbacks import Callback, EpochLog
    from mnistkit.recipes import resolve_recipe
    from mnistkit.run import run_training

    out = _run_folder(args.out, f"{args.dataset}-{args.model or args.recipe or 'default'}")
    recipe = resolve_recipe(args.recipe, model=args.model).replace(
        progress=not args.quiet and sys.stderr.isatty(), **_recipe_overrides(args)
    )
    callbacks: list[Callback] = [EpochLog(sys.stdout)]
    if args.tensorboard is not None:  # built first: a missing extra fails before training
        from mnistkit.tensorboard import TensorBoardLogger

        callbacks.append(TensorBoardLogger(args.tensorboard))
    tracking = _mlflow_logger(args, recipe, out) if args.mlflow is not None else None
    if tracking is not None:
        callbacks.append(tracking)
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
            retain_freed_memory=True,  # the command owns its process (see devices)
        )
    except KeyboardInterrupt:
        if tracking is not None:
            tracking.end("KILLED")
        hint = f"interrupted; continue with: mnistkit train --resume --out {out} (same options)"
        raise KeyboardInterrupt(hint) from None
    except BaseException:  # after training (testing, writing): the run failed all the same
        if tracking is not None:
            tracking.end("FAILED")
        raise
    if tracking is not None:
        tested = {"test_accuracy": result.report.accuracy, "test_nll": result.report.nll}
        tracking.log_folder(out, metrics={k: v for k, v in tested.items() if v is not None})
        tracking.end()
        _out(f"tracked with MLflow: run {tracking.run_id}")
    accuracy, seconds = result.report.accuracy, result.metrics["train_seconds"]
    _out(
        f"test accuracy {accuracy:.4f} ({accuracy:.2%})  train time {seconds:.1f}s  "
        f"-> {result.model_path}"
    )


def _mlflow_logger(args: argparse.Namespace, recipe: Recipe, out: Path) -> MLflowLogger:
    """``train --mlflow [URI]``: a logger that stays open for the test metrics and files."""
    from mnistkit.mlflow import MLflowLogger

    described = recipe.to_dict()
    return MLflowLogger(
        args.mlflow or None,  # the flag alone: MLflow's default store
        run_name=out.resolve().name,
        params={
            "recipe": {"name": recipe.name, "summary": recipe.summary},
            "augment": described["augment"],
            "val_fraction": args.val_fraction,
        },
        log_model=False,  # the run folder's model file is sent with the rest
        end_on_fit_end=False,
    )


def ensemble_command(args: argparse.Namespace) -> None:
    """``mnistkit ensemble``: :func:`mnistkit.run_ensemble` over the recipes and seeds."""
    import matplotlib

    matplotlib.use("Agg")

    from mnistkit.callbacks import EpochLog
    from mnistkit.recipes import get_recipe
    from mnistkit.run import run_ensemble

    names: list[str] = args.recipe
    out = _run_folder(args.out, f"{args.dataset}-{'+'.join(names)}-ensemble")
    overrides = _recipe_overrides(args)
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
            retain_freed_memory=True,
        )
    except KeyboardInterrupt:
        hint = "interrupted; continue with the same command (finished members are kept)"
        raise KeyboardInterrupt(hint) from None
    for member in result.metrics["members"]:
        _out(f"  {member['folder']}: test accuracy {member['test_accuracy']:.4f}")
    accuracy = result.report.accuracy
    _out(f"ensemble test accuracy {accuracy:.4f} ({accuracy:.2%}) -> {result.model_path}")


# ---------------------------------------------------------------------------------- evaluate
def evaluate_command(args: argparse.Namespace) -> None:
    """``mnistkit evaluate``: a model file's report on a test split."""
    from mnistkit import datasets
    from mnistkit.exceptions import ConfigError
    from mnistkit.inference import evaluate_model, with_test_time_augmentation
    from mnistkit.models import TestTimeAugmentation

    if args.ood_plot is not None and args.ood is None:
        raise ConfigError("Argument '--ood-plot' needs --ood DATASET (the set to compare with)")
    loaded = _load_model(args.model, device=args.device)
    name = args.dataset or loaded.metadata.dataset
    if name is None:
        raise ConfigError(f"{args.model}: the model file names no data set; pass --dataset.")
    split = datasets.load_split(name, args.split, root=args.data_dir)
    if len(loaded.metadata.classes) != len(split.classes):
        raise ConfigError(
            f"{args.model}: the model has {len(loaded.metadata.classes)} classes but {name} has "
            f"{len(split.classes)}."
        )
    model = with_test_time_augmentation(loaded.model, name) if args.tta else loaded.model
    report = evaluate_model(model, split, precision=args.precision)
    tta = None
    if isinstance(model, TestTimeAugmentation):
        tta = {"shifts": [list(s) for s in model.shifts], "flip": model.flip}
    ood = _out_of_distribution(args, loaded, name, split)
    if args.json:
        facts = {"model": str(args.model), "dataset": name, "split": args.split, "tta": tta}
        _out(json.dumps({**facts, **report.to_dict(), **ood.pop("json")}, indent=2))
        return
    views = ""
    if isinstance(model, TestTimeAugmentation):
        views = f", test-time augmentation over {model.num_views} views"
    _out(f"{args.model} on {name} {args.split} ({len(split)} images{views})")
    _out(str(report))
    for line in ood["lines"]:
        _out(line)


def _out_of_distribution(
    args: argparse.Namespace, loaded: LoadedModel, name: str, test: Split
) -> dict[str, Any]:
    """``evaluate``'s "not a digit" part: the stored threshold on the test images, and with
    ``--ood`` how well the scores separate them from another data set's test images.

    Scores come from the model file's own model in float32 (never the test-time
    augmentation, whose outputs are log-probabilities), as thresholds are chosen.
    Returns ``{"json": {...}, "lines": [...]}``.
    """
    from mnistkit import datasets
    from mnistkit.inference import default_score, predict_logits
    from mnistkit.metrics import ood_report, ood_scores
    from mnistkit.metrics.ood import SCORE_KINDS

    rule = loaded.metadata.rejection
    facts: dict[str, Any] = {}
    lines: list[str] = []
    if rule is None and args.ood is None:
        return {"json": facts, "lines": lines}
    logits = predict_logits(loaded.model, test.images, precision="32")  # (N, C)
    if rule is not None:
        rejected = rule.rejects(logits)
        wrong = logits.argmax(1) != test.labels
        count, errors = int(rejected.sum()), int((rejected & wrong).sum())
        facts["rejection"] = {
            **rule.to_dict(),
            "test_rejected": count,
            "test_kept": 1 - count / len(test),
            "test_rejected_errors": errors,
        }
        lines += [
            "",
            f"rejection threshold: {rule}",
            f"  rejects {count:,} of {len(test):,} {name} {args.split} images "
            f"({count / len(test):.2%}),"
            f" {errors} of them misclassified",
        ]
    elif args.ood is not None:
        lines += ["", "no rejection threshold stored (add one: mnistkit threshold MODEL)"]
    if args.ood is None:
        return {"json": facts, "lines": lines}
    outside = datasets.load(args.ood, root=args.data_dir).test
    out_logits = predict_logits(loaded.model, outside.images, precision="32")
    # the energy of log-probabilities (an ensemble's output) is 0 for every image
    kinds = SCORE_KINDS if default_score(loaded.model) == "energy" else ("msp",)
    reports = {}
    for kind in kinds:
        stored = rule is not None and rule.score == kind
        threshold = rule.threshold if rule is not None and stored else None
        temperature = rule.temperature if rule is not None and stored else 1.0
        scores_in = ood_scores(logits, kind=kind, temperature=temperature)
        scores_out = ood_scores(out_logits, kind=kind, temperature=temperature)
        found = ood_report(scores_in, scores_out, threshold=threshold)
        reports[kind] = (found, scores_in, scores_out)
    facts["ood"] = {
        "dataset": args.ood,
        "num_in": len(test),
        "num_out": len(outside),
        "scores": {kind: r.to_dict() for kind, (r, _, _) in reports.items()},
    }
    lines += [
        "",
        f"not a digit? {name} test ({len(test):,}) against {args.ood} test "
        f"({len(outside):,}), float32 scores:",
        f"  {'score':<8}{'AUROC':>8}{'AUPR-In':>9}{'AUPR-Out':>10}{'FPR at 95% TPR':>16}",
    ]
    for kind, (r, _, _) in reports.items():
        lines.append(
            f"  {kind:<8}{r.auroc:>8.4f}{r.aupr_in:>9.4f}{r.aupr_out:>10.4f}"
            f"{r.fpr_at_95_tpr:>16.2%}"
        )
    if rule is not None and rule.score in reports:
        r = reports[rule.score][0]
        lines.append(
            f"  at the stored threshold: keeps {r.kept_in:.2%} of {name}, rejects "
            f"{r.rejected_out:.2%} of {args.ood}"
        )
    if args.ood_plot is not None:
        _save_ood_plot(args.ood_plot, reports, (name, args.ood), rule)
        lines.append(f"wrote {args.ood_plot}")
    return {"json": facts, "lines": lines}


def _save_ood_plot(
    out: Path,
    reports: Mapping[str, tuple[Any, Any, Any]],
    labels: tuple[str, str],
    rule: Any,
) -> None:
    """``evaluate --ood-plot``: one histogram pair per score, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mnistkit.plotting import plot_ood_scores
    from mnistkit.plotting._common import save_png

    figure, axes = plt.subplots(
        1, len(reports), figsize=(6.0 * len(reports), 3.8), layout="constrained", squeeze=False
    )
    for ax, (kind, (_, scores_in, scores_out)) in zip(axes[0], reports.items(), strict=True):
        threshold = rule.threshold if rule is not None and rule.score == kind else None
        plot_ood_scores(scores_in, scores_out, threshold=threshold, labels=labels, ax=ax)
        ax.set_xlabel(f"{kind} score (higher = more like the training images)")
    save_png(figure, out)


# ---------------------------------------------------------------------------------- predict
def predict_command(args: argparse.Namespace) -> None:
    """``mnistkit predict``: one line (or JSON object) per image file.

    A file that cannot be read or holds no digit gets its own error line and the others
    are still answered; the command then fails (exit status 2) naming how many were not.
    """
    import torch

    from mnistkit.exceptions import ConfigError, ImageError
    from mnistkit.imaging import load_image
    from mnistkit.inference import predict_logits, with_test_time_augmentation

    files: list[Path] = args.images
    loaded = _load_model(args.model, device=args.device)
    rule = loaded.metadata.rejection
    if args.reject and rule is None:
        out = " --out FILE.safetensors" if str(args.model).startswith("pretrained:") else ""
        raise ConfigError(
            f"{args.model}: the model file has no rejection threshold for --reject; add one "
            f"with: mnistkit threshold {args.model}{out}"
        )
    if args.reject and args.tta:
        raise ConfigError(
            "Arguments '--reject' and '--tta' cannot be combined: the threshold was chosen "
            "on the model's own scores, without test-time augmentation"
        )
    read: dict[int, torch.Tensor] = {}
    failed: dict[int, str] = {}
    for i, path in enumerate(files):
        try:
            read[i] = load_image(path, method=args.preprocessing)
        except ImageError as exc:
            failed[i] = str(exc)
    model = loaded.model
    if args.tta:
        model = with_test_time_augmentation(model, loaded.metadata.dataset)
    batch = torch.stack(list(read.values())) if read else torch.empty(0, 1, 28, 28)
    # float32 with --reject: the threshold was chosen on float32 scores
    precision = "32" if args.reject else args.precision
    logits = predict_logits(model, batch, precision=precision) if read else batch
    probs = torch.softmax(logits, dim=1) if read else batch
    rejected = rule.rejects(logits).tolist() if args.reject and rule is not None and read else []
    scores = rule.scores(logits).tolist() if args.reject and rule is not None and read else []
    answered = iter(probs)  # one row per file that was read, in order
    answer = 0  # index of the next answered file
    classes = loaded.metadata.classes

    def label(i: int) -> str:
        return classes[i] if i < len(classes) else str(i)

    titles = []
    for i, path in enumerate(files):
        if i in failed:
            titles.append(f"{path.name}: not read")
            if args.json:
                _out(json.dumps({"path": str(path), "error": failed[i]}))
            else:
                sys.stderr.write(f"mnistkit: error: {failed[i]}\n")
            continue
        row = next(answered)
        index = int(row.argmax())
        p = float(row[index])
        refused = bool(rejected[answer]) if rejected else False
        if refused:
            titles.append(f"{path.name}: not a digit (best guess {label(index)}, p = {p:.2f})")
        else:
            titles.append(f"{path.name}: {label(index)} (p = {p:.2f})")
        if not args.json:
            if refused:
                _out(f"{path} not a digit (best guess {label(index)}, p={p:.2f})")
            else:
                _out(f"{path} {label(index)} {p:.4f}")
            answer += 1
            continue
        record: dict[str, Any] = {
            "path": str(path),
            "label": None if refused else label(index),
            "index": index,
            "probability": p,
            "probabilities": {label(i): round(float(q), 6) for i, q in enumerate(row)},
        }
        if args.reject:
            record.update(rejected=refused, best_guess=label(index), score=scores[answer])
        _out(json.dumps(record))
        answer += 1
    if args.show is not None:
        _save_explanation(args.show, files, titles, args.preprocessing)
    if failed:
        raise ImageError(f"{len(failed)} of {len(files)} image files could not be read")


def _save_explanation(out: Path, files: list[Path], titles: list[str], method: str) -> None:
    """``predict --show``: each picture, the ink kept and the 28x28 image the model saw."""
    import matplotlib

    matplotlib.use("Agg")
    from mnistkit.imaging import explain_preprocessing
    from mnistkit.plotting._common import save_png

    save_png(explain_preprocessing(files, method=method, titles=titles), out)
    _out(f"wrote {out}")


# ---------------------------------------------------------------------------------- threshold
def threshold_command(args: argparse.Namespace) -> None:
    """``mnistkit threshold``: choose a model file's rejection threshold and store it."""
    from mnistkit import datasets, pretrained
    from mnistkit.checkpoints import set_rejection_threshold
    from mnistkit.exceptions import ConfigError
    from mnistkit.inference import choose_rejection_threshold, predict_logits
    from mnistkit.loaders import train_val_split

    bundled = str(args.model).startswith(pretrained.PREFIX)
    if bundled and args.out is None:
        raise ConfigError(
            f"{args.model}: a bundled model is not rewritten in place; pass --out FILE"
        )
    if args.out is not None and args.out.is_dir():
        raise ConfigError(f"Argument '--out' must be a file, but {str(args.out)!r} is a folder")
    loaded = _load_model(args.model)
    name = args.dataset or loaded.metadata.dataset
    if name is None:
        raise ConfigError(f"{args.model}: the model file names no data set; pass --dataset.")
    data = datasets.load(name, root=args.data_dir)
    if args.split == "val":
        _, held_out = train_val_split(data.train, val_fraction=args.val_fraction, seed=args.seed)
        chosen_on = (
            f"{name} validation split ({len(held_out):,} images, val_fraction "
            f"{args.val_fraction}, seed {args.seed})"
        )
    else:
        held_out = data.train
        chosen_on = f"{name} training split ({len(held_out):,} images, seen in training)"
    rule = choose_rejection_threshold(
        loaded.model, held_out.images, keep=args.keep, score=args.score, chosen_on=chosen_on
    )
    source = pretrained.resolve_path(str(args.model)) if bundled else args.model
    written = set_rejection_threshold(source, rule, out=args.out)
    # what it keeps of new digits: the test images, which chose nothing
    test_logits = predict_logits(loaded.model, data.test.images, precision="32")
    kept = 1 - float(rule.rejects(test_logits).double().mean())
    _out(f"{rule}")
    _out(f"on the {len(data.test):,} {name} test images it keeps {kept:.2%}")
    _out(f"wrote {written}")


# ---------------------------------------------------------------------------------- export
def export_command(args: argparse.Namespace) -> None:
    """``mnistkit export``: an ONNX or torch.export file, checked on the test split."""
    from mnistkit import datasets, pretrained
    from mnistkit.deploy import DEFAULT_TOLERANCE, export
    from mnistkit.exceptions import ConfigError

    target = args.format
    if target is None:
        suffix = args.out.suffix.lower() if args.out is not None else ""
        target = "pt2" if suffix == ".pt2" else "onnx"
    bundled = str(args.model).startswith(pretrained.PREFIX)
    # a bundled model is exported into the working folder, named after it
    source = Path(str(args.model).removeprefix(pretrained.PREFIX)) if bundled else args.model
    out: Path = args.out or source.with_suffix("." + target)
    if not bundled and out.resolve() == args.model.resolve():
        raise ConfigError(f"Argument '--out' names the model file itself: {str(out)!r}")
    if out.is_dir():
        raise ConfigError(f"Argument '--out' must be a file, but {str(out)!r} is a folder")
    loaded = _load_model(args.model)
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
        target=target,
        dataset=name,
        check_images=images,
        tolerance=tolerance,
        opset=args.opset,
    )
    _out(f"wrote {result.path} ({target}, {result.size / 1e6:.2f} MB)")
    if result.check is not None:
        _out(f"checked on the {name} test set: {result.check}")


# ---------------------------------------------------------------------------------- datasets
def datasets_command(args: argparse.Namespace) -> None:
    """``mnistkit datasets list|download|verify``."""
    from mnistkit import datasets
    from mnistkit.exceptions import DatasetNotFoundError

    root = datasets.data_dir(args.data_dir)
    names = args.names
    if not names and args.action == "download":
        # the two it always fetched; the family's others (EMNIST is 560 MB) only by name
        names = ["mnist", "fashion-mnist"]
    elif not names and args.action == "verify":
        names = [
            n
            for n in datasets.list_datasets()
            if datasets.files_present(n, root, "train") and datasets.files_present(n, root, "test")
        ] or ["mnist"]
    elif not names:
        names = datasets.list_datasets()
    infos = [datasets.get_info(n) for n in names]
    if args.action == "list":
        for info in infos:
            folder = root / info.subfolder
            there = [s for s in info.splits if datasets.files_present(info.name, root, s)]
            if not there:
                state = "not downloaded"
            elif not {"train", "test"} <= set(there):
                state = f"partly downloaded ({', '.join(there)})"
            else:
                try:
                    datasets.verify(info.name, root=root)
                    state = "verified"
                    if len(there) < len(info.splits):
                        missing = sorted(set(info.splits) - set(there))
                        state += f" (not downloaded: {', '.join(missing)})"
                except DatasetNotFoundError:
                    state = "partly downloaded"
                except Exception as exc:  # report, don't stop the listing
                    state = f"damaged: {exc}"
            sizes = " + ".join(f"{n:,} {split}" for split, n in info.sizes.items())
            _out(f"{info.name:<16} {len(info.classes):>2} classes  {sizes:<26}  {state}  {folder}")
    elif args.action == "download":
        for info in infos:
            data = datasets.load(info.name, root=root, download=True)
            where = root / info.subfolder
            _out(f"{info.name}: {len(data.train)} train + {len(data.test)} test images in {where}")
    else:
        for info in infos:
            for path, status in datasets.verify(info.name, root=root).items():
                _out(f"{status}  {path}")


# ---------------------------------------------------------------------------------- models
def models_command(args: argparse.Namespace) -> None:
    """``mnistkit models [NAME]``: the registered models, or one's layer summary."""
    from mnistkit.models import get_model, list_models, summary

    if args.name is not None:
        _out(str(summary(get_model(args.name))))
        return
    for name in list_models():
        params = sum(p.numel() for p in get_model(name).parameters())
        _out(f"{name:<8} {params:>9,} parameters")


# ---------------------------------------------------------------------------------- recipes
def recipes_command(args: argparse.Namespace) -> None:
    """``mnistkit recipes``: each recipe with its model and main settings."""
    from mnistkit.recipes import get_recipe, list_recipes

    for name in list_recipes():
        recipe = get_recipe(name)
        cfg = recipe.config
        _out(
            f"{name:<10} {recipe.model:<7} {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"{cfg.optimizer}/{cfg.schedule}, precision {cfg.precision}: {recipe.summary}"
        )


# ---------------------------------------------------------------------------------- compare
def _distinct_names(specs: list[Path]) -> list[str]:
    """Each model's name in the comparison: as given, with `` (2)``... for a repeat."""
    names: list[str] = []
    for spec in specs:
        name, count = str(spec), 1
        while name in names:
            count += 1
            name = f"{spec} ({count})"
        names.append(name)
    return names


def _comparison_dataset(args: argparse.Namespace, trained: Mapping[str, str | None]) -> str:
    """``--dataset``, else the one data set every model names (a clear error otherwise)."""
    from mnistkit.exceptions import ConfigError

    if args.dataset is not None:
        return str(args.dataset)
    known = sorted({name for name in trained.values() if name is not None})
    if not known:
        raise ConfigError("none of the model files names a data set; pass --dataset.")
    if len(known) > 1:
        each = ", ".join(f"{spec} on {name or 'an unnamed one'}" for spec, name in trained.items())
        raise ConfigError(
            f"the models were trained on different data sets ({each}); compare models of one "
            "data set, or pass --dataset to evaluate them all on one."
        )
    return known[0]


def compare_command(args: argparse.Namespace) -> None:
    """``mnistkit compare``: models on the same images, every pair tested.

    Each distinct model is evaluated once; :func:`mnistkit.metrics.compare` gives each pair's
    disagreement table, exact McNemar p-value and interval of the accuracy difference.
    """
    from mnistkit import datasets
    from mnistkit.exceptions import ConfigError
    from mnistkit.inference import predict, with_test_time_augmentation
    from mnistkit.metrics import compare

    specs: list[Path] = args.models
    if len(specs) < 2:
        raise ConfigError(
            f"Argument 'MODEL' must name at least two models to compare, but got {len(specs)}"
        )
    if args.figure is not None and args.figure.is_dir():
        raise ConfigError(
            f"Argument '--figure' must be a file, but {str(args.figure)!r} is a folder"
        )
    # load every file first: a wrong path or data set fails before any evaluation
    loaded = {str(spec): _load_model(spec, device=args.device) for spec in specs}
    name = _comparison_dataset(args, {s: m.metadata.dataset for s, m in loaded.items()})
    split = getattr(datasets.load(name, root=args.data_dir), args.split)
    for spec, model_file in loaded.items():
        if len(model_file.metadata.classes) != len(split.classes):
            raise ConfigError(
                f"{spec}: the model has {len(model_file.metadata.classes)} classes but {name} "
                f"has {len(split.classes)}; compare models of the same classes."
            )
    predictions = {}
    for spec, model_file in loaded.items():
        model = model_file.model
        if args.tta:
            model = with_test_time_augmentation(model, name)
        predictions[spec] = predict(model, split.images, precision=args.precision)
    names = _distinct_names(specs)
    result = compare(
        {n: predictions[str(spec)] for n, spec in zip(names, specs, strict=True)},
        split.labels,
        confidence=args.confidence,
    )
    if args.figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        from mnistkit.plotting import plot_comparison
        from mnistkit.plotting._common import save_png

        figure = plot_comparison(result).get_figure(root=True)
        if figure is not None:  # always, as plot_comparison drew a figure of its own
            save_png(figure, args.figure)
    if args.json:
        facts = {"dataset": name, "split": args.split, "tta": args.tta}
        _out(json.dumps({**facts, **result.to_dict()}, indent=2))
    else:
        views = ", test-time augmentation" if args.tta else ""
        _out(
            f"{len(names)} models on {name} {args.split} ({len(split):,} images{views}); "
            f"exact McNemar test, {args.confidence:.0%} intervals"
        )
        _out(str(result))
        if len(result.pairs) > 1:
            _out(
                f"Each of the {len(result.pairs)} pairs is tested on its own, without "
                "correction for multiple comparisons."
            )
    if args.figure is not None:
        _out(f"wrote {args.figure}")


# ---------------------------------------------------------------------------------- lr-find
def lr_find_command(args: argparse.Namespace) -> None:
    """``mnistkit lr-find``: the learning-rate range test, written as a figure and JSON."""
    import matplotlib

    matplotlib.use("Agg")

    from mnistkit import datasets
    from mnistkit.devices import seed_everything
    from mnistkit.plotting._common import save_png
    from mnistkit.recipes import resolve_recipe
    from mnistkit.tune import lr_find

    recipe = resolve_recipe(args.recipe, model=args.model).replace(**_recipe_overrides(args))
    name = args.model or args.recipe or "default"
    out = _run_folder(args.out, f"{args.dataset}-{name}-lr-find")
    data = datasets.load(args.dataset, root=args.data_dir, download=not args.no_download)
    seed_everything(recipe.config.seed)  # the initial weights follow the seed, as in train
    model = recipe.build_model(data.name, num_classes=len(data.classes))
    _out(f"mnistkit lr-find: recipe {recipe.name!r}, {recipe.model} on {args.dataset} -> {out}/")
    result = lr_find(
        model,
        data.train,
        recipe.config,
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        num_steps=args.steps,
        augment=recipe.augment,
    )
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "lr_find.json")
    save_png(result.plot(), out / "lr_find.png")
    suggested = "none (the curve is too short)"
    if result.suggestion is not None:
        suggested = f"{result.suggestion:.3g}"
    _out(
        f"{len(result.lrs)} steps ({result.stop_reason}); lowest loss at lr "
        f"{result.min_loss_lr:.3g}; suggested lr {suggested}"
    )
    _out(f"wrote {out / 'lr_find.png'} and {out / 'lr_find.json'}")


# ---------------------------------------------------------------------------------- tune
def tune_command(args: argparse.Namespace) -> None:
    """``mnistkit tune``: :func:`mnistkit.tune.search` over a recipe's fields."""
    from mnistkit import datasets
    from mnistkit.cli._parser import TUNE_FIELDS
    from mnistkit.recipes import get_recipe
    from mnistkit.tune import DEFAULT_SPACE, parse_param, search

    get_recipe(args.recipe), datasets.get_info(args.dataset)  # unknown names fail first
    space = [parse_param(text) for text in args.param] if args.param else list(DEFAULT_SPACE)
    out = _run_folder(args.out, f"{args.dataset}-{args.recipe}-tune")
    changes = {name: getattr(args, name) for name in TUNE_FIELDS if getattr(args, name) is not None}
    _out(
        f"mnistkit tune: recipe {args.recipe!r} on {args.dataset}, {args.trials} trials over "
        f"{', '.join(map(str, space))} -> {out}/"
    )
    result = search(
        args.recipe,
        space=space,
        n_trials=args.trials,
        dataset=args.dataset,
        data_dir=args.data_dir,
        download=not args.no_download,
        subset=args.subset,
        val_fraction=args.val_fraction,
        epochs=changes.pop("epochs", None),
        monitor=args.monitor,
        storage=args.storage,
        study_name=args.study,
        retrain=not args.no_retrain,
        out=out,
        config_changes={**changes, "progress": False},
    )
    states = [t.state.name for t in result.study.trials]
    _out(
        f"study {result.study.study_name!r}: {len(states)} trials ("
        + ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states)))
        + f"); best {args.monitor} {result.best_value:.4f} with {result.best_params}"
    )
    if result.report is not None:
        accuracy = result.report.accuracy
        _out(f"best settings retrained: test accuracy {accuracy:.4f} ({accuracy:.2%})")
    _out(f"wrote {out / 'search.json'}")


#: Each command's function, by the name the parser gives it.
COMMANDS: Mapping[str, Callable[[argparse.Namespace], None]] = MappingProxyType(
    {
        "train": train_command,
        "ensemble": ensemble_command,
        "evaluate": evaluate_command,
        "predict": predict_command,
        "threshold": threshold_command,
        "export": export_command,
        "datasets": datasets_command,
        "models": models_command,
        "recipes": recipes_command,
        "compare": compare_command,
        "lr-find": lr_find_command,
        "tune": tune_command,
    }
)
