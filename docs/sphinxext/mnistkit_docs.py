"""Small Sphinx helpers for the mnistkit documentation.

* :class:`ExampleOrder` orders the examples within each section of the gallery: those named
  in :data:`GALLERY_ORDER` first, in that order, then any others by file name. The sections
  themselves are ordered by ``subsection_order`` in ``conf.py``.
* The ``cli-help`` directive inserts the ``--help`` text of ``mnistkit`` or one of its
  commands, produced by the installed command line itself, so the page cannot drift from
  the code.
* The ``answer`` directive holds the answer to an exercise, hidden in HTML until the
  reader opens it (a ``<details>`` element); other builders show it as it is.
* Members that scikit-learn generates on an estimator (``set_*_request``) are left out of
  the API reference.
* A ``missing-reference`` handler lets docstrings name an object by any public path. Most
  public names are importable from two places, e.g. ``mnistkit.Trainer`` and
  ``mnistkit.trainer.Trainer``, but the API reference documents each object once. When a
  reference to one path does not resolve, the handler imports the object, finds where it is
  documented and links there.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import inspect
import io
import os
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

#: File names of the gallery examples, in reading order: those of the "Learn" section
#: (``examples/learn/``), then those of the "Use" section (``examples/use/``). Each section
#: lists its own in this order.
GALLERY_ORDER: tuple[str, ...] = (
    # learn/
    "plot_nearest_mean.py",
    "plot_backprop_by_hand.py",
    "plot_backprop_from_scratch.py",
    "plot_training_loop.py",
    "plot_initialisation.py",
    "plot_what_a_cnn_sees.py",
    "plot_batch_norm_and_augmentation.py",
    "plot_overfitting_and_dropout.py",
    # use/
    "plot_quickstart.py",
    "plot_compare_models.py",
    "plot_compare_recipes.py",
    "plot_confusion_and_top_losses.py",
    "plot_why_seven.py",
    "plot_custom_module_and_callback.py",
    "plot_sklearn_pipeline.py",
    "plot_fashion_mnist.py",
    "plot_mnist_family.py",
    "plot_tune_hyperparameters.py",
    "plot_notebook.py",
    "plot_photos.py",
)


class ExampleOrder:
    """Sort key for ``within_subsection_order``: :data:`GALLERY_ORDER`, then by file name.

    sphinx-gallery instantiates the class with the gallery folder and calls it with each
    file name; it is named by its import path in ``conf.py`` so that the configuration stays
    picklable.
    """

    def __init__(self, src_dir: str | Path) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = Path(filename).name
        try:
            return GALLERY_ORDER.index(name), name
        except ValueError:
            return len(GALLERY_ORDER), name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.src_dir)!r})"


class CliHelp(SphinxDirective):
    """``.. cli-help:: [COMMAND]``: the output of ``mnistkit [COMMAND] --help``."""

    optional_arguments = 1
    final_argument_whitespace = True
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        from mnistkit.cli import main

        argv = [*(self.arguments[0].split() if self.arguments else []), "--help"]
        buffer = io.StringIO()
        saved = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "90"  # argparse wraps to 2 less: lines of at most 88
        try:
            with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
                main(argv)
        finally:
            if saved is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = saved
        text = buffer.getvalue().rstrip()
        if not text:
            raise self.error(f"'mnistkit {' '.join(argv)}' printed nothing")
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


class Answer(SphinxDirective):
    """``.. answer:: [SUMMARY]``: its content, folded away under SUMMARY ("Answer")."""

    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        summary = self.arguments[0] if self.arguments else "Answer"
        body = nodes.container(classes=["mnistkit-answer-body"])
        self.state.nested_parse(self.content, self.content_offset, body)
        opening = f'<details class="mnistkit-answer"><summary>{html.escape(summary)}</summary>'
        return [
            nodes.raw("", opening, format="html"),
            body,
            nodes.raw("", "</details>", format="html"),
        ]


_MISSING = object()


def _import_path(name: str) -> Any:
    """The object at dotted path ``name`` under ``mnistkit``, or ``_MISSING``.

    Class attributes are looked up statically so that a classmethod or property is the same
    object whichever class path leads to it.
    """
    parts = name.split(".")
    if parts[0] != "mnistkit":
        return _MISSING
    obj: Any = None
    consumed = 0
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        consumed = i
        break
    if consumed == 0:
        return _MISSING
    for attr in parts[consumed:]:
        try:
            obj = inspect.getattr_static(obj, attr) if inspect.isclass(obj) else getattr(obj, attr)
        except AttributeError:
            return _MISSING
    return obj


class _DocumentedIndex:
    """Maps objects to the name under which the API reference documents them."""

    def __init__(self, env: BuildEnvironment) -> None:
        self.by_id: dict[tuple[int, str], str] = {}
        self.names: list[str] = []
        for fullname in env.domains["py"].objects:
            if not fullname.startswith("mnistkit"):
                continue
            self.names.append(fullname)
            obj = _import_path(fullname)
            if obj is not _MISSING:
                # the last name component guards against shared small ints and strings
                self.by_id.setdefault((id(obj), fullname.rsplit(".", 1)[-1]), fullname)

    def find(self, obj: Any, short: str) -> str | None:
        return self.by_id.get((id(obj), short))

    def by_suffix(self, target: str) -> str | None:
        matches = [n for n in self.names if n.endswith("." + target)]
        return matches[0] if len(matches) == 1 else None


_INDEX: dict[int, _DocumentedIndex] = {}


def _index(env: BuildEnvironment) -> _DocumentedIndex:
    key = id(env)
    if key not in _INDEX:
        _INDEX.clear()
        _INDEX[key] = _DocumentedIndex(env)
    return _INDEX[key]


def _resolve_alias(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element
) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    target: str = node.get("reftarget", "")
    if not target or target.startswith(("torch", "numpy", "matplotlib", "PIL")):
        return None
    module = node.get("py:module")
    klass = node.get("py:class")
    candidates = [target]
    if module:
        candidates.append(f"{module}.{target}")
        if klass:
            candidates.append(f"{module}.{klass}.{target}")
    index = _index(env)
    documented: str | None = None
    for name in candidates:
        obj = _import_path(name)
        if obj is not _MISSING:
            documented = index.find(obj, name.rsplit(".", 1)[-1])
            if documented:
                break
    if documented is None and not target.startswith("mnistkit."):
        documented = index.by_suffix(target)
    if documented is None or documented == target:
        return None
    domain = env.domains["py"]
    for role in (node.get("reftype", "obj"), "obj"):
        resolved = domain.resolve_xref(
            env, node["refdoc"], app.builder, role, documented, node, contnode
        )
        if resolved is not None:
            return resolved
    return None


def _skip_generated_routing(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    """Leave out the ``set_*_request`` methods scikit-learn generates on an estimator class
    (metadata routing): their text is scikit-learn's, documented there, and refers to its
    glossary; :class:`mnistkit.sklearn.DigitClassifier` has them as every estimator does."""
    generated = getattr(obj, "__module__", "") or ""
    if name.startswith("set_") and name.endswith("_request") and generated.startswith("sklearn"):
        return True
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("cli-help", CliHelp)
    app.connect("autodoc-skip-member", _skip_generated_routing)
    app.add_directive("answer", Answer)
    app.connect("missing-reference", _resolve_alias)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
