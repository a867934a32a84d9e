"""The gallery's layout: two sections, every example placed and ordered, no stale link.

sphinx-gallery makes a section of each sub-folder of ``examples/`` that has a
``GALLERY_HEADER.rst``, and names an example's page after its folder
(``sphx_glr_auto_examples_<folder>_<name>.py``). These checks read the files only; they need
neither Sphinx nor a built site.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SECTIONS = ("learn", "use")


def _gallery_order() -> tuple[str, ...]:
    """``GALLERY_ORDER`` of docs/sphinxext/mnistkit_docs.py, read without importing Sphinx."""
    tree = ast.parse((ROOT / "docs" / "sphinxext" / "mnistkit_docs.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "GALLERY_ORDER":
            assert node.value is not None
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple)
            return value
    raise AssertionError("GALLERY_ORDER not found in docs/sphinxext/mnistkit_docs.py")


def test_examples_live_in_the_two_sections() -> None:
    loose = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert not loose, f"examples outside a section folder ({', '.join(SECTIONS)}): {loose}"
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name[0] not in "._")
    assert folders == sorted(SECTIONS)
    for section in SECTIONS:
        assert (EXAMPLES / section / "GALLERY_HEADER.rst").is_file(), section
        assert list((EXAMPLES / section).glob("plot_*.py")), f"section {section} is empty"
    conf = (ROOT / "docs" / "conf.py").read_text("utf-8")
    assert '"subsection_order": ["../examples/learn", "../examples/use"]' in conf


def test_gallery_order_names_every_example_once_learn_first() -> None:
    order = _gallery_order()
    assert len(order) == len(set(order))
    found = {p.name: p.parent.name for p in EXAMPLES.glob("*/plot_*.py")}
    assert sorted(order) == sorted(found), (
        f"missing from GALLERY_ORDER: {sorted(set(found) - set(order))}; "
        f"listed but absent: {sorted(set(order) - set(found))}"
    )
    sections = [found[name] for name in order]
    assert sections == sorted(sections, key=SECTIONS.index), sections


def test_every_reference_to_an_example_names_an_existing_one() -> None:
    pattern = re.compile(r"sphx_glr_auto_examples_(learn|use)_(plot_\w+)\.py")
    # the pages written by hand, not those the build writes into docs/
    generated = {"_build", "auto_examples", "generated", "sg_execution_times.rst"}
    docs = [p for p in (ROOT / "docs").rglob("*.rst") if not generated & set(p.parts)]
    sources = [*docs, *EXAMPLES.glob("*/*.py"), ROOT / "README.md"]
    seen = 0
    stale = []
    for source in sources:
        text = source.read_text("utf-8")
        for section, name in pattern.findall(text):
            seen += 1
            if not (EXAMPLES / section / f"{name}.py").is_file():
                stale.append(f"{source.relative_to(ROOT)}: {section}/{name}.py")
        # the names before the gallery had sections
        stale += [
            f"{source.relative_to(ROOT)}: {m}"
            for m in re.findall(r"sphx_glr_auto_examples_plot_\w+\.py", text)
        ]
    assert seen >= 10, f"only {seen} references to examples found"
    assert not stale, "references to examples that do not exist:\n" + "\n".join(stale)
