"""Sphinx configuration of the mnistkit documentation.

Build it with::

    MNISTKIT_DATA_DIR=/path/to/data sphinx-build -W --keep-going -b html docs docs/_build/html

The gallery (``../examples``) and the figures of the concepts pages are computed during the
build from the real data sets, read from ``$MNISTKIT_DATA_DIR`` (or downloaded into the
per-user cache when it is not set).

Environment variables read here:

``MNISTKIT_DOCS_OFFLINE=1``
    Build without network access: no intersphinx inventories are fetched, so references to
    Python, PyTorch, NumPy and Matplotlib are rendered as plain text instead of links.
    Without it the four inventories are downloaded, and a failed download is a warning
    (an error under ``-W``). tox and CI set it.
``MNISTKIT_DOCS_NO_GALLERY=1``
    Skip running the gallery examples (their pages then show code without output); for
    quick edits of the prose only. Not for CI: it changes the site.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _package_version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "sphinxext"))

# Figures are rendered off-screen, also when a display is available.
os.environ.setdefault("MPLBACKEND", "Agg")

# -- Project -----------------------------------------------------------------------------
project = "mnistkit"
author = "mnistkit maintainers"
copyright = "mnistkit maintainers"
try:
    release = _package_version("mnistkit")
except PackageNotFoundError:  # a source tree that was never installed
    release = "0+unknown"
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
    # the figure directive that serves the plot directive's 2x images (plot_srcset)
    "matplotlib.sphinxext.figmpl_directive",
    # MathJax served from the site itself, so that equations render without a network.
    "sphinx-mathjax-offline",
    # Local helpers: gallery order and links for names re-exported by ``mnistkit``.
    "mnistkit_docs",
    # The draw-a-digit page: trains and exports its model, bundles ONNX Runtime Web.
    "mnistkit_demo",
    # The watch-a-network-learn page: ships MNIST digits for training in the browser.
    "mnistkit_learn",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # sphinx-gallery writes these next to the sources; they are not pages of their own.
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*/*.ipynb",
    "auto_examples/*/*.py",
    "auto_examples/*/*.md5",
    "auto_examples/*/*.pickle",
]
default_role = "py:obj"
nitpicky = False
# Literal blocks are highlighted as Python when they parse as Python, else left plain.
highlight_language = "default"
pygments_style = "sphinx"
pygments_dark_style = "monokai"

# -- autodoc / autosummary / numpydoc ----------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
# Type hints are shown in the signatures (the numpydoc "Parameters" and "Returns" sections
# say the same in words), and as the type of every property. The array-like aliases keep
# their names instead of being spelt out as the unions behind them.
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_type_aliases = {
    "ArrayLike": "ArrayLike",
    "ImagesLike": "ImagesLike",
    "FloatArray": "FloatArray",
    "IntArray": "IntArray",
    "Activation": "Activation",
}
autodoc_preserve_defaults = True
# Long signatures are broken onto one parameter per line.
python_maximum_signature_line_length = 88
python_display_short_literal_types = True
add_module_names = False

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Docstrings of the public API are checked while the pages are built; under -W a finding
# fails the build. The checks: sections known and in numpydoc's order (GL06, GL07); every
# parameter documented, existing, in signature order, with a type and a description, and
# well formed (PR01-PR07, PR10); a Returns section with a description for every function
# that returns something, and a Yields section for generators (RT01-RT03, YD01).
numpydoc_validation_checks: set[str] = {
    "GL06",
    "GL07",
    "PR01",
    "PR02",
    "PR03",
    "PR04",
    "PR05",
    "PR06",
    "PR07",
    "PR10",
    "RT01",
    "RT02",
    "RT03",
    "YD01",
}

# -- intersphinx -------------------------------------------------------------------------
OFFLINE = os.environ.get("MNISTKIT_DOCS_OFFLINE", "").strip().lower() in {"1", "true", "yes"}
intersphinx_mapping = (
    {}
    if OFFLINE
    else {
        "python": ("https://docs.python.org/3", None),
        "torch": ("https://docs.pytorch.org/docs/stable/", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "matplotlib": ("https://matplotlib.org/stable/", None),
    }
)
intersphinx_timeout = 30

# -- sphinx-gallery ----------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Two sections, each a folder of ../examples with its GALLERY_HEADER.rst: the examples
    # that teach the ideas first, then those that use mnistkit as a tool.
    "subsection_order": ["../examples/learn", "../examples/use"],
    # Every example runs during the build: plot_*.py and any other .py file.
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "mnistkit_docs.ExampleOrder",
    "download_all_examples": True,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib",),
    "reset_modules_order": "before",
    "abort_on_example_error": True,
    "plot_gallery": "False" if os.environ.get("MNISTKIT_DOCS_NO_GALLERY") else "True",
    "doc_module": ("mnistkit",),
    "backreferences_dir": "api/generated/backreferences",
    "show_memory": False,
    "min_reported_time": 0,
    "capture_repr": ("_repr_html_", "__repr__"),
    "image_scrapers": ("matplotlib",),
    "thumbnail_size": (400, 280),
    # every figure also at twice the resolution, for high-density (phone) screens
    "image_srcset": ["2x"],
}

# -- plot directive (figures of the concepts pages) --------------------------------------
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
# ... and at 220 dpi for high-density (phone) screens, chosen by the browser through srcset
plot_srcset = ["2x"]
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\n"
plot_rcparams = {"figure.autolayout": True, "savefig.bbox": "tight"}
plot_apply_rcparams = True

# -- MyST (the changelog is Markdown) ----------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- copybutton: copy code without prompts or outputs ------------------------------------
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = False

# -- HTML --------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"mnistkit {release}"
html_static_path = ["_static"]
html_css_files = ["mnistkit.css"]
exclude_patterns.append("node_modules")
html_show_sourcelink = False
html_copy_source = False
