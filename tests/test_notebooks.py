"""Notebook display: the HTML of the public objects, and a gallery notebook executed for real.

The notebook test converts ``examples/use/plot_notebook.py`` with sphinx-gallery's own
converter (what the site's "Download Jupyter notebook" button serves), runs it on a
python3 kernel through nbclient on the real data, and reads the outputs.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

import mnistkit
from mnistkit import History, Report
from mnistkit.checkpoints import ModelMetadata
from mnistkit.datasets import DatasetSplits

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "use" / "plot_notebook.py"


def test_report_html_holds_every_class_and_the_averages() -> None:
    report = Report.from_predictions([0, 1, 2, 2], [0, 1, 1, 2], classes=["cat", "dog", "emu"])
    text = report._repr_html_()
    assert text.count("<table") == 1  # no probability metrics from hard predictions
    for name in ("cat", "dog", "emu", "accuracy", "macro avg", "weighted avg"):
        assert f"<td>{name}</td>" in text
    assert f"{report.accuracy:.4f}" in text and "Report: accuracy 75.00% on 4 samples" in text
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    full = Report.from_probabilities(probs, [0, 1, 2], classes=["a", "b", "<c>"])
    assert "<td>nll</td>" in full._repr_html_() and "&lt;c&gt;" in full._repr_html_()


def test_history_html_has_one_row_per_epoch() -> None:
    history = History(
        [
            {"epoch": 1, "train_loss": 0.5, "lr": 0.01},
            {"epoch": 2, "train_loss": 0.25, "lr": 0.005},
        ]
    )
    text = history._repr_html_()
    assert text.count("<tr>") == 3  # header + two epochs
    assert "<th>train_loss</th>" in text and "0.2500" in text and "History: 2 epochs" in text
    assert "no epochs" in History()._repr_html_()


def test_split_and_dataset_html_show_their_first_digits(mnist: DatasetSplits) -> None:
    text = mnist.test._repr_html_()
    assert "data:image/png;base64," in text and "10,000" in text
    first = [mnist.classes[int(i)] for i in mnist.test.labels[:12]]
    assert re.findall(r">([^<>]*)</span>", text) == first  # the labels under the strip
    whole = mnist._repr_html_()
    assert whole.count("data:image/png;base64,") == 2 and "60,000" in whole


def test_model_metadata_html_lists_the_fields() -> None:
    meta = ModelMetadata("cnn", {"channels": [8, 16]}, "mnist", metrics={"test_accuracy": 0.99})
    text = meta._repr_html_()
    for cell in ("cnn", "config.channels", "mnist", "metrics.test_accuracy", "0.9900"):
        assert f"<td>{html.escape(cell)}</td>" in text or f">{cell}</td>" in text


def _kernel_ready() -> None:
    """A python3 kernel that runs this interpreter (nbclient starts it by name)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.fail(f"no python3 Jupyter kernel: {sys.executable} -m ipykernel install --user")


@pytest.mark.slow
def test_gallery_notebook_runs_in_a_kernel(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient
    from sphinx_gallery.notebook import python_to_jupyter_cli

    _kernel_ready()
    script = tmp_path / EXAMPLE.name
    shutil.copy(EXAMPLE, script)
    python_to_jupyter_cli([str(script)])  # writes plot_notebook.ipynb beside it
    notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    # the kernel imports this checkout and reads the real data
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MNISTKIT_DATA_DIR", str(data_root))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    shown = "".join(out.get("data", {}).get("text/html", "") for out in outputs)
    for caption in ("MNIST handwritten digits", "Split &#x27;mnist/train[val]&#x27;", "History: 2"):
        assert caption in shown, caption
    assert "Report: accuracy" in shown and "Model metadata" in shown
    assert any("image/png" in out.get("data", {}) for out in outputs)  # history.plot()
    # tqdm.auto drew the progress bar as a widget, one per epoch
    widgets = [
        out for out in outputs if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert len(widgets) == 2
    assert mnistkit.__file__  # the test process itself imported the same checkout
