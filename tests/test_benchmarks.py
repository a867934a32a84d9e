"""benchmarks/compare_reference.py runs its peers (a smoke run, as CI affords).

The full comparison (``--quick``: the reference, Lightning and skorch for up to five epochs
each) takes about 20 minutes on a 2-core CPU, beyond CI's budget; its numbers are recorded
in benchmarks/RESULTS.md. The smoke run trains each method one epoch on 512 real training
images and tests it on 512, in a fresh process per method, as the full run does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_reference_and_its_peers_train_the_same_network(
    data_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "smoke.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "compare_reference.py"), "--smoke"]
    command += ["--methods", "reference", "lightning", "skorch", "fast"]
    command += ["--data-dir", str(data_root), "--json", str(out)]
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    assert list(results) == ["reference", "lightning", "skorch", "fast"]
    for method, result in results.items():
        assert len(result["epochs"]) == 1, method
        assert result["epochs"][0]["train_seconds"] > 0, method
        assert result["peak_rss_mb"] > 0, method
    # each peer records its library's version, and trains the reference's network with
    # the reference's recipe: from the same seed and images, the same test accuracy
    import lightning
    import skorch

    assert results["lightning"]["settings"]["lightning"] == lightning.__version__
    assert results["skorch"]["settings"]["skorch"] == skorch.__version__
    reference = results["reference"]["epochs"][0]["accuracy"]
    assert 0.3 < reference < 0.95  # learnt something from 512 images, far from finished
    assert results["lightning"]["epochs"][0]["accuracy"] == reference
    assert results["skorch"]["epochs"][0]["accuracy"] == reference
