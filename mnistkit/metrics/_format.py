"""Text and HTML of the metrics' result objects (private): what ``str(...)`` prints.

A :class:`~mnistkit.metrics.Report` is a classification-report table in the layout of
scikit-learn's ``classification_report``: one row per class, then accuracy and the macro
and weighted averages, then the number of errors with the accuracy's confidence
interval, then the probability metrics the report holds. A
:class:`~mnistkit.metrics.Comparison` and an :class:`~mnistkit.metrics.OODReport` are
small tables of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mnistkit.metrics.ood import OODReport
    from mnistkit.metrics.report import Report
    from mnistkit.metrics.stats import Comparison

__all__ = [
    "accuracy_summary",
    "comparison_html",
    "comparison_table",
    "format_p",
    "ood_html",
    "ood_table",
    "percent_interval",
    "report_html",
    "report_table",
    "text_table",
]

#: Label column width floor, so the average rows always fit.
_AVG_LABELS = ("accuracy", "macro avg", "weighted avg")
#: Decimals shown for every rate.
_DIGITS = 4
#: Width of every number column.
_COL = 10
_HEADER = ("precision", "recall", "f1-score", "support")


def format_p(p: float) -> str:
    """``"p = 0.61"``, ``"p = 0.003"``, ``"p < 0.0001"``: two significant digits."""
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.2g}"


def percent_interval(low: float, high: float) -> str:
    """``"99.19-99.50%"``: an interval of fractions as percentages with two decimals."""
    return f"{low:.2%}"[:-1] + f"-{high:.2%}"


def _errors(count: int) -> str:
    return f"{count:,} error" + ("" if count == 1 else "s")


def accuracy_summary(report: Report) -> str:
    """``"64 errors of 10,000: accuracy 99.36%, 95% CI 99.19-99.50%"``."""
    low, high = report.accuracy_interval
    return (
        f"{_errors(report.errors)} of {report.num_samples:,}: accuracy {report.accuracy:.2%}, "
        f"95% CI {percent_interval(low, high)}"
    )


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns two spaces apart; the first and the last left-aligned, the others right."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    last = len(header) - 1

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i in (0, last) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), *(line(r) for r in rows)]


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
    lines += ["", accuracy_summary(report)]
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
    low, high = report.accuracy_interval
    caption = (
        f"Report: accuracy {report.accuracy:.2%} on {n:,} samples "
        f"({_errors(report.errors)}; 95% CI {percent_interval(low, high)})"
    )
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


def _signed_points(value: float) -> str:
    return f"{100 * value:+.2f}"


def _comparison_rows(comparison: Comparison) -> tuple[list[list[str]], list[list[str]]]:
    intervals = comparison.accuracy_intervals
    accuracies = comparison.accuracies
    models = [
        [name, f"{accuracies[name]:.2%}", f"{errors:,}", percent_interval(*intervals[name])]
        for name, errors in zip(comparison.names, comparison.errors, strict=True)
    ]
    pairs = []
    for pair in comparison.pairs:
        low, high = pair.difference_interval
        pairs.append(
            [
                f"{pair.a} vs {pair.b}",
                f"{pair.both_right:,}",
                f"{pair.only_a:,}",
                f"{pair.only_b:,}",
                f"{pair.both_wrong:,}",
                f"{_signed_points(pair.difference)} "
                f"({_signed_points(low)} to {_signed_points(high)})",
                pair.verdict,
            ]
        )
    return models, pairs


def _comparison_headers(comparison: Comparison) -> tuple[tuple[str, ...], tuple[str, ...]]:
    level = f"{comparison.confidence:.0%}"
    return (
        ("model", "accuracy", "errors", f"{level} CI"),
        (
            "A vs B",
            "both right",
            "only A right",
            "only B right",
            "both wrong",
            f"A - B, points ({level} CI)",
            "verdict",
        ),
    )


def comparison_table(comparison: Comparison) -> str:
    """Each model's accuracy and interval, a blank line, then one row per pair."""
    models, pairs = _comparison_rows(comparison)
    model_header, pair_header = _comparison_headers(comparison)
    lines = text_table(model_header, models)
    lines += ["", *text_table(pair_header, pairs)]
    return "\n".join(lines)


def comparison_html(comparison: Comparison) -> str:
    """The tables of :func:`comparison_table` as HTML."""
    from mnistkit import _html

    models, pairs = _comparison_rows(comparison)
    model_header, pair_header = _comparison_headers(comparison)
    caption = f"Comparison on {comparison.num_samples:,} samples"
    return (
        "<div>"
        + _html.table(models, header=model_header, caption=caption)
        + _html.table(pairs, header=pair_header, caption="pairs (exact McNemar test)")
        + "</div>"
    )


def _ood_rows(report: OODReport) -> list[tuple[str, str]]:
    rows = [
        ("in-distribution samples", f"{report.num_in:,}"),
        ("out-of-distribution samples", f"{report.num_out:,}"),
        ("AUROC", f"{report.auroc:.4f}"),
        ("AUPR-In", f"{report.aupr_in:.4f}"),
        ("AUPR-Out", f"{report.aupr_out:.4f}"),
        ("FPR at 95% TPR", f"{report.fpr_at_95_tpr:.2%}"),
    ]
    if report.threshold is not None:
        rows += [
            ("threshold", f"{report.threshold:.6g}"),
            ("in-distribution kept", f"{report.kept_in:.2%}"),
            ("out-of-distribution rejected", f"{report.rejected_out:.2%}"),
        ]
    return rows


def ood_table(report: OODReport) -> str:
    """One ``label  value`` line per measure, labels right-aligned."""
    rows = _ood_rows(report)
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:>{width}}  {value}" for label, value in rows)


def ood_html(report: OODReport) -> str:
    """The table of :func:`ood_table` as HTML."""
    from mnistkit import _html

    return _html.table(_ood_rows(report), caption="Out-of-distribution detection")
