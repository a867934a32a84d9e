"""Text formatting of a :class:`~mnistkit.metrics.Report` (private): what ``str(report)`` prints.

A classification-report table in the layout of scikit-learn's ``classification_report``:
one row per class, then accuracy and the macro and weighted averages, then the
probability metrics the report holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mnistkit.metrics.report import Report

__all__ = ["report_html", "report_table"]

#: Label column width floor, so the average rows always fit.
_AVG_LABELS = ("accuracy", "macro avg", "weighted avg")
#: Decimals shown for every rate.
_DIGITS = 4
#: Width of every number column.
_COL = 10
_HEADER = ("precision", "recall", "f1-score", "support")


def report_table(report: Report) -> str:
    """The report as a table of text lines joined by ``"\\n"`` (no trailing newline)."""
    extra: list[tuple[str, float]] = []
    if report.nll is not None:
        extra.append(("nll", report.nll))
    if report.top_k_accuracy is not None:
        extra.extend((f"top-{k} accuracy", v) for k, v in report.top_k_accuracy.items())
    if report.ece is not None:
        extra.append(("ece", report.ece))
    width = max(len(label) for label in (*report.classes, *_AVG_LABELS, *(e[0] for e in extra)))

    def row(label: str, values: Sequence[float | None], count: int) -> str:
        cells = "".join(" " * _COL if v is None else f"{v:>{_COL}.{_DIGITS}f}" for v in values)
        return f"{label:>{width}}{cells}{count:>{_COL}}"

    lines = [" " * width + "".join(f"{h:>{_COL}}" for h in _HEADER), ""]
    precision, recall, f1 = report.precision.tolist(), report.recall.tolist(), report.f1.tolist()
    for i, (name, count) in enumerate(zip(report.classes, report.support.tolist(), strict=True)):
        lines.append(row(name, (precision[i], recall[i], f1[i]), count))
    n = report.num_samples
    lines += [
        "",
        row("accuracy", (None, None, report.accuracy), n),
        row("macro avg", (report.macro_precision, report.macro_recall, report.macro_f1), n),
        row(
            "weighted avg",
            (report.weighted_precision, report.weighted_recall, report.weighted_f1),
            n,
        ),
    ]
    if extra:
        lines.append("")
        lines += [f"{label:>{width}}{value:>{_COL}.{_DIGITS}f}" for label, value in extra]
    return "\n".join(lines)


def report_html(report: Report) -> str:
    """The same table as :func:`report_table`, as HTML for Jupyter's rich display."""
    from mnistkit import _html

    precision, recall, f1 = report.precision.tolist(), report.recall.tolist(), report.f1.tolist()
    support = report.support.tolist()
    n = report.num_samples
    rows: list[list[object]] = [
        [name, precision[i], recall[i], f1[i], support[i]] for i, name in enumerate(report.classes)
    ]
    rows += [
        ["accuracy", "", "", report.accuracy, n],
        ["macro avg", report.macro_precision, report.macro_recall, report.macro_f1, n],
        ["weighted avg", report.weighted_precision, report.weighted_recall, report.weighted_f1, n],
    ]
    caption = f"Report: accuracy {report.accuracy:.2%} on {n:,} samples"
    parts = [_html.table(rows, header=("", *_HEADER), caption=caption)]
    extra: list[tuple[str, float]] = []
    if report.nll is not None:
        extra.append(("nll", report.nll))
    if report.top_k_accuracy is not None:
        extra.extend((f"top-{k} accuracy", v) for k, v in report.top_k_accuracy.items())
    if report.ece is not None:
        extra.append(("ece", report.ece))
    if extra:
        parts.append(_html.table(extra, caption="probability metrics"))
    return "<div>" + "".join(parts) + "</div>"
