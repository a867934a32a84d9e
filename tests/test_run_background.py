"""The run's background imports (mnistkit.run._single._import_in_background)."""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import sys, threading
from mnistkit.run._single import _import_in_background

fresh = ("wave", "mnistkit_no_such_module", "colorsys", "torch._dynamo")
assert not any(name in sys.modules for name in fresh), "already imported"
_import_in_background(*fresh)
for thread in threading.enumerate():
    if thread.name.startswith("import "):
        thread.join(timeout=60)
print(sorted(name for name in fresh if name in sys.modules))
"""


def test_imports_each_module_even_after_one_fails() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == repr(["colorsys", "torch._dynamo", "wave"])
