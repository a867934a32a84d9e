"""What a run records besides its model: ``metrics.json``'s machine and settings records
and the figures (private to :mod:`mnistkit.run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mnistkit import datasets
from mnistkit.devices import describe_hardware
from mnistkit.history import History
from mnistkit.metrics import Report
from mnistkit.recipes import Recipe

__all__ = ["FIGURES", "draw_figures", "machine_record", "settings_record"]

#: The figures :func:`~mnistkit.run.run_training` draws, by file name.
FIGURES = ("predictions.png", "misclassified.png", "confusion_matrix.png", "history.png")

# The most classes whose confusion-matrix cells are annotated with their counts (EMNIST
# Letters' 26 still are; Balanced's 47 and ByClass's 62 show colours only).
_ANNOTATED_CLASSES = 30


def draw_figures(
    out: Path, test: datasets.Split, probs: Any, report: Report, history: History | None
) -> None:
    from mnistkit import plotting
    from mnistkit.plotting._common import save_png

    shown = 36
    drawn = {
        "predictions.png": plotting.show_predictions(
            test.images[:shown],
            probs[:shown].argmax(1),
            test.labels[:shown],
            classes=test.classes,
            probabilities=probs[:shown],
            n=shown,
            title=f"The first {shown} test images (test accuracy {report.accuracy:.2%})",
        ),
        "misclassified.png": plotting.show_misclassified(
            test.images, probs, test.labels, classes=test.classes, n=shown
        ),
        # a count in each of 47 x 47 cells is unreadable and slow to lay out: colours only
        "confusion_matrix.png": plotting.plot_confusion_matrix(
            report, annotate=len(report.classes) <= _ANNOTATED_CLASSES
        ).get_figure(root=True),
    }
    if history is not None:
        drawn["history.png"] = plotting.plot_history(history)
    for name, figure in drawn.items():
        if figure is None:  # e.g. nothing misclassified
            continue
        save_png(figure, out / name)


def machine_record(device: torch.device) -> dict[str, Any]:
    """``metrics.json``'s device, hardware and thread count."""
    return {
        "device": str(device),
        "hardware": describe_hardware(device),
        "threads": torch.get_num_threads(),
    }


def settings_record(recipe: Recipe) -> dict[str, Any]:
    """``metrics.json``'s resolved training settings, model settings and augmentation."""
    described = recipe.to_dict()
    return {
        "config": recipe.config.to_dict(),
        "model_config": described["model_config"],
        "augment": described["augment"],
    }
