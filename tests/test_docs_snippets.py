"""Every Python code block of the documentation runs, as written, on the real data.

Each page's ``.. code-block:: python`` (and ``.. code:: python``) blocks, and the
```` ```python ```` fences of ``README.md``, run in the order they appear, in one fresh
interpreter per page (a reader copying a page's blocks into one session), with
``MNISTKIT_DATA_DIR`` set, ``MPLBACKEND=Agg`` and an empty folder as the working directory.
A block whose directive has the option ``:class: fragment`` is shown on the site with a
"fragment" label (``docs/_static/mnistkit.css``) and is not run: it needs something of the
reader's (a photo, a GPU, a ``torchrun`` launch) or is part of a larger program.

Plain ``::`` literal blocks are not run; a literal block that holds Python statements is an
error here, so that Python is always written where this test sees it.

Run the script directly to see one page's blocks as the test runs them::

    python tests/test_docs_snippets.py docs/user_guide/training.rst
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
#: Folders of generated pages (the gallery's, the build's), which are not written by hand.
GENERATED = ("_build", "auto_examples", "generated", "node_modules")
#: The option that marks a block as a fragment, not run.
FRAGMENT = "fragment"

_DIRECTIVE = re.compile(
    r"^(?P<indent>\s*)\.\. (?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$"
)
_OPTION = re.compile(r"^\s*:(?P<name>[\w-]+):\s*(?P<value>.*)$")
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>```+)\s*(?P<lang>[\w+-]*)\s*$")


@dataclass(frozen=True, slots=True)
class Block:
    """One Python code block of a page."""

    line: int  # 1-based line of the block's first line of code
    code: str
    fragment: bool
    source: str = ""  # the included file the block is in; "" for the page itself


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _directive_body(lines: list[str], start: int, indent: int) -> tuple[dict[str, str], int, str]:
    """Options, first code line (0-based) and dedented code of the directive at ``start``."""
    options: dict[str, str] = {}
    i = start + 1
    while i < len(lines) and lines[i].strip() and _indent(lines[i]) > indent:
        match = _OPTION.match(lines[i])
        if match is None:
            break  # content without a blank line after the directive
        options[match["name"]] = match["value"].strip()
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    first = i
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
        i += 1
    return options, first, textwrap.dedent("\n".join(lines[first:i])).strip("\n") + "\n"


def rst_blocks(text: str) -> list[Block]:
    """The Python code blocks of a reStructuredText page, in order."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if match is None or match["lang"] not in ("python", "python3", "py"):
            continue
        options, first, code = _directive_body(lines, number, len(match["indent"]))
        fragment = FRAGMENT in options.get("class", "").split()
        blocks.append(Block(first + 1, code, fragment))
    return blocks


def literal_python_blocks(text: str) -> list[int]:
    """Lines of ``::`` literal blocks that hold Python statements (which must not be there)."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.endswith("::") or stripped.startswith(".."):
            continue  # not a literal block, or a directive
        _, first, code = _directive_body(lines, number, _indent(line))
        if first >= len(lines) or _indent(lines[first]) <= _indent(line):
            continue
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        # an import or an assignment is Python; a lone name or expression may be anything
        if any(isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign)) for node in tree.body):
            found.append(first + 1)
    return found


def markdown_blocks(text: str) -> list[Block]:
    """The ```` ```python ```` fences of a Markdown file, in order."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != match["ticks"]:
            end += 1
        if match["lang"] in ("python", "py"):
            code = textwrap.dedent("\n".join(lines[i + 1 : end]))
            blocks.append(Block(i + 2, code, fragment=False))
        i = end + 1
    return blocks


_INCLUDE = re.compile(r"^\.\. include::\s*(?P<name>\S+)\s*$")


def page_blocks(path: Path) -> list[Block]:
    """The Python code blocks of a page (``.rst`` or ``.md``), in reading order.

    A reStructuredText ``.. include::`` brings the included file's blocks in at its place
    (their lines are the included file's, named in :attr:`Block.source`).
    """
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return markdown_blocks(text)
    blocks: list[Block] = []
    lines = text.splitlines()
    start = 0
    for number, line in enumerate([*lines, ".. include:: <end>"]):
        match = _INCLUDE.match(line)
        if match is None:
            continue
        chunk = rst_blocks("\n".join(lines[start:number]))
        blocks += [Block(b.line + start, b.code, b.fragment) for b in chunk]
        if match["name"] != "<end>":
            included = path.parent / match["name"]
            blocks += [
                Block(b.line, b.code, b.fragment, b.source or included.name)
                for b in page_blocks(included)
            ]
        start = number + 1
    return blocks


def pages() -> list[Path]:
    """Every hand-written page: ``docs/**/*.rst`` and ``README.md``."""
    found = [
        path
        for path in sorted(DOCS.rglob("*.rst"))
        if not set(GENERATED).intersection(path.relative_to(DOCS).parts)
    ]
    return [*found, REPO / "README.md"]


#: Runs one page's blocks in order in one namespace; says which block failed, and how.
_RUNNER = """
import json, sys, time, traceback
page, blocks = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
for line, code in blocks:
    print(f"running the block at line {line}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        exec(compile(code, f"{page}, block at line {line}", "exec"), namespace)
        print(f"block at line {line}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    except BaseException as error:
        print(f"{page}, block at line {line}: {type(error).__name__}: {error}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def run_page(path: Path, data_root: Path, cwd: Path, *, timeout: float = 600.0) -> str:
    """Run the page's non-fragment blocks in a fresh interpreter; fail with the block's line.

    Returns the interpreter's standard error: each block's line and seconds.
    """
    page = str(path.relative_to(REPO))
    blocks = [
        (f"{block.source}:{block.line}" if block.source else block.line, block.code)
        for block in page_blocks(path)
        if not block.fragment
    ]
    env = {
        **os.environ,
        "MNISTKIT_DATA_DIR": str(data_root),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", _RUNNER],
            input=json.dumps([page, blocks]),
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        err = expired.stderr or b""
        text = err.decode(errors="replace") if isinstance(err, bytes) else err
        started = re.findall(r"running the block at line (\S+)", text)
        where = f"the block at line {started[-1]}" if started else "before the first block"
        pytest.fail(f"{page}: {where} ran past {timeout} s", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"{page}: a code block failed\n{result.stderr[-4000:]}", pytrace=False)
    return result.stderr


_RUNNABLE = [path for path in pages() if any(not b.fragment for b in page_blocks(path))]


@pytest.mark.slow
@pytest.mark.parametrize("path", _RUNNABLE, ids=[str(path.relative_to(REPO)) for path in _RUNNABLE])
def test_page_code_blocks_run(path: Path, data_root: Path, tmp_path: Path) -> None:
    run_page(path, data_root, tmp_path)


def test_every_python_example_is_in_a_checked_block() -> None:
    included = sorted(DOCS.rglob("*.inc"))
    stray = {
        str(path.relative_to(REPO)): lines
        for path in [*pages(), *included]
        if path.suffix in (".rst", ".inc")
        and (lines := literal_python_blocks(path.read_text(encoding="utf-8")))
    }
    assert not stray, (
        "Python in '::' literal blocks (write '.. code-block:: python', with ':class: "
        f"fragment' if it cannot run as written): {stray}"
    )


def test_extraction_reads_options_fragments_and_fences() -> None:
    rst = textwrap.dedent(
        """\
        Text::

            import os
            x = 1

        .. code-block:: python
           :class: fragment
           :caption: one

           model(x)

        .. code-block:: console

           $ mnistkit train

        .. code:: python

           a = 1
           if a:
               b = 2

        after
        """
    )
    blocks = rst_blocks(rst)
    assert [(b.line, b.fragment) for b in blocks] == [(10, True), (18, False)]
    assert blocks[1].code == "a = 1\nif a:\n    b = 2\n"
    assert literal_python_blocks(rst) == [3]
    markdown = "x\n\n```python\nimport mnistkit\n```\n\n```bash\nls\n```\n"
    assert markdown_blocks(markdown) == [Block(4, "import mnistkit", False)]
    # a failing block is reported with its page and line
    assert len(_RUNNABLE) >= 10 and all(path.exists() for path in _RUNNABLE)


def test_included_files_blocks_run_with_their_page(tmp_path: Path) -> None:
    (tmp_path / "part.inc").write_text(".. code-block:: python\n\n   b = a + 1\n")
    page = tmp_path / "page.rst"
    page.write_text(
        ".. code-block:: python\n\n   a = 1\n\n.. include:: part.inc\n\n"
        ".. code-block:: python\n\n   c = b\n"
    )
    assert [(b.line, b.code, b.source) for b in page_blocks(page)] == [
        (3, "a = 1\n", ""),
        (3, "b = a + 1\n", "part.inc"),
        (9, "c = b\n", ""),
    ]
    confidence = DOCS / "user_guide" / "confidence.rst"
    assert any(b.source == "_ood.inc" and not b.fragment for b in page_blocks(confidence))


def test_fragments_are_labelled_on_the_site() -> None:
    css = (DOCS / "_static" / "mnistkit.css").read_text(encoding="utf-8")
    rule = re.search(r"\.fragment[^{]*::before\s*{(?P<body>[^}]*)}", css)
    assert rule is not None and "fragment" in rule["body"], "no label for :class: fragment"
    assert any(block.fragment for path in pages() for block in page_blocks(path))


if __name__ == "__main__":  # run one page's blocks, as the test does, in the current folder
    root = Path(os.environ["MNISTKIT_DATA_DIR"])
    for name in sys.argv[1:]:
        report = run_page(Path(name).resolve(), root, Path.cwd(), timeout=3600)
        print(f"{name}: ok", *re.findall(r"block at line \d+: [\d.]+ s", report), sep="\n  ")
