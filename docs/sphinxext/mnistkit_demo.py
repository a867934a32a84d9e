"""The "Draw a digit" page: a model trained by the docs build, run in the browser.

When an HTML build starts (``builder-inited``), this extension

1. trains the demo model (see :func:`demo_recipe`) on the real MNIST
   training set from ``$MNISTKIT_DATA_DIR`` less a validation split (``VAL_FRACTION``), on
   which it chooses the "not sure" threshold (the energy score keeping ``KEEP`` of those
   digits, :func:`mnistkit.inference.choose_rejection_threshold`), evaluates it once on
   the test set, writes it as ``model.safetensors`` (threshold in its metadata) and exports
   it with :func:`mnistkit.export` to ``model.onnx``, checked with ONNX Runtime on all
   10,000 test digits; the files and ``demo.json`` (the figures the page quotes, and the
   threshold, which the page reads) are kept in ``<build>/demo/`` and reused while the
   recipe, the mnistkit version and the torch version stay the same;
2. checks that ONNX Runtime Web is installed in ``docs/node_modules`` (``npm ci --prefix
   docs``: the version is pinned by ``docs/package-lock.json``).

When the build finishes (``build-finished``) the model files and ONNX Runtime Web's
WebAssembly build (``ort.wasm.min.js``, ``ort-wasm-simd-threaded.mjs`` and ``.wasm``, the
CPU backend without WebGPU or WebGL; see ``ORT_FILES``) are copied to ``_static/demo/`` in
the site, so the page needs no CDN and works offline.

The ``demo-facts`` directive writes what the page says about its model (recipe,
augmentation, epochs, training time, test accuracy, the export check) from ``demo.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

log = logging.getLogger(__name__)

#: ONNX Runtime Web files the page needs (the WebAssembly CPU backend only), with their
#: names in the site: the module glue is served as ``.js``, a type every web server sends
#: as JavaScript (Python's ``http.server`` sends ``.mjs`` as a download, which browsers
#: refuse to import); the page tells ONNX Runtime Web where it is.
ORT_FILES = {
    "ort.wasm.min.js": "ort.wasm.min.js",
    "ort-wasm-simd-threaded.mjs": "ort-wasm-simd-threaded.js",
    "ort-wasm-simd-threaded.wasm": "ort-wasm-simd-threaded.wasm",
}
#: Where ``npm ci --prefix docs`` puts them.
ORT_DIST = Path(__file__).resolve().parents[1] / "node_modules" / "onnxruntime-web" / "dist"
#: Files of the trained model copied into the site.
MODEL_FILES = ("model.onnx", "model.safetensors", "demo.json")
#: Seed of the demo model's training.
SEED = 0
#: Share of MNIST's training digits held out to choose the "not sure" threshold on.
VAL_FRACTION = 0.1
#: Share of those held-out digits the threshold keeps.
KEEP = 0.99


def demo_recipe() -> Any:
    """The recipe that trains the demo model: ``fast`` for two epochs, with a mild random
    affine warp of every training batch (``benchmarks/demo_augmentation.py`` shows why)."""
    from mnistkit.augment import RandomAffine
    from mnistkit.recipes import get_recipe

    return get_recipe("fast").replace(
        epochs=2,
        seed=SEED,
        progress=False,
        augment=RandomAffine(degrees=10.0, translate=0.1, scale=(0.9, 1.1)),
    )


def _key(recipe: Any) -> str:
    import torch

    import mnistkit

    spec = {
        "recipe": recipe.to_dict(),
        "mnistkit": mnistkit.__version__,
        "torch": torch.__version__,
        "seed": SEED,
        "val_fraction": VAL_FRACTION,
        "keep": KEEP,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _train(folder: Path) -> dict[str, Any]:
    import torch

    import mnistkit

    recipe = demo_recipe()
    key = _key(recipe)
    info_path = folder / "demo.json"
    if info_path.is_file() and all((folder / name).is_file() for name in MODEL_FILES):
        info: dict[str, Any] = json.loads(info_path.read_text())
        if info.get("key") == key:
            log.info("[mnistkit_demo] reusing the demo model in %s", folder)
            return info
    log.info("[mnistkit_demo] training the demo model (%s recipe)", recipe.name)
    from mnistkit.inference import choose_rejection_threshold, predict_with_rejection
    from mnistkit.loaders import train_val_split

    mnistkit.seed_everything(SEED)
    data = mnistkit.datasets.load("mnist")
    train, val = train_val_split(data.train, val_fraction=VAL_FRACTION, seed=SEED)
    model = recipe.build_model("mnist")
    trainer = mnistkit.Trainer(model, recipe.config, augment=recipe.augment)
    start = time.perf_counter()
    trainer.fit(train)
    seconds = time.perf_counter() - start
    report = trainer.evaluate(data.test)
    rule = choose_rejection_threshold(
        trainer.inference_model,
        val.images,
        keep=KEEP,
        chosen_on=f"{len(val):,} MNIST training digits held out of its training",
    )
    answers = predict_with_rejection(trainer.inference_model, data.test.images, rule)
    folder.mkdir(parents=True, exist_ok=True)
    model_path = mnistkit.save_model(
        trainer.inference_model,
        folder / "model.safetensors",
        dataset="mnist",
        metrics={"test_accuracy": report.accuracy},
        rejection=rule,
    )
    result = mnistkit.export(model_path, folder / "model.onnx", check_images=data.test.images)
    if result.check is None:  # pragma: no cover - check_images was given
        raise ExtensionError("the demo model's export was not checked")
    info = {
        "key": key,
        "recipe": recipe.name,
        "recipe_settings": recipe.to_dict(),
        "augment": repr(recipe.augment) if recipe.augment is not None else None,
        "epochs": recipe.config.epochs,
        "train_images": len(train),
        "train_seconds": round(seconds, 1),
        "test_accuracy": report.accuracy,
        # what the page reads to say "not sure" (see mnistkit-demo.js)
        "rejection": rule.to_dict(),
        "test_kept": 1.0 - float(answers.rejected.double().mean()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "onnx_bytes": result.size,
        "check": {
            "images": result.check.images,
            "agreements": result.check.agreements,
            "max_difference": result.check.max_difference,
            "tolerance": result.check.tolerance,
        },
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads "
        f"({os.cpu_count()} logical cores)",
        "torch": torch.__version__,
        "mnistkit": mnistkit.__version__,
    }
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    return info


def _folder(app: Sphinx) -> Path:
    return Path(app.outdir).parent / "demo"


def _builder_inited(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    missing = [name for name in ORT_FILES if not (ORT_DIST / name).is_file()]
    if missing:
        raise ExtensionError(
            f"ONNX Runtime Web is not installed ({', '.join(missing)} missing in {ORT_DIST}); "
            "run: npm ci --prefix docs"
        )
    app.env.mnistkit_demo = _train(_folder(app))  # type: ignore[attr-defined]


def _build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "demo"
    target.mkdir(parents=True, exist_ok=True)
    for name, site_name in ORT_FILES.items():
        shutil.copyfile(ORT_DIST / name, target / site_name)
    for name in MODEL_FILES:
        shutil.copyfile(_folder(app) / name, target / name)


def _always_reread(
    app: Sphinx, env: Any, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    # the page quotes the freshly trained model's figures
    return ["demo"] if "demo" in env.found_docs else []


class DemoFacts(SphinxDirective):
    """``.. demo-facts::``: how the page's model was trained and how well it does."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        info = getattr(self.env, "mnistkit_demo", None)
        if info is None:
            return [nodes.paragraph(text="(The demo model is built by HTML builds only.)")]
        check = info["check"]
        augment = info["augment"]
        augmentation = (
            f"with every training batch randomly warped by {augment}"
            if augment
            else "without augmentation"
        )
        text = (
            f"The model on this page is the {info['recipe']!r} recipe's network "
            f"({info['parameters']:,} parameters), trained by the documentation build itself "
            f"for {info['epochs']} epochs on the {info['train_images']:,} MNIST training "
            f"digits {augmentation}, in {info['train_seconds']} s on the build machine "
            f"({info['machine']}, torch {info['torch']}). It classifies "
            f"{info['test_accuracy']:.2%} of the 10,000 test digits correctly. Exported to "
            f"ONNX ({info['onnx_bytes'] / 1e3:.0f} kB), it was checked with ONNX Runtime on "
            f"all {check['images']:,} test digits: the predictions agree on "
            f"{check['agreements']:,}, and no probability differs from PyTorch's by more "
            f"than {check['max_difference']:.1e}."
        )
        rule = info["rejection"]
        unsure = (
            f'Below an energy score of {rule["threshold"]:.2f} the page answers "not sure" '
            f"instead of a digit: the score that keeps {rule['keep']:.0%} of "
            f"{rule['num_images']:,} MNIST training digits held out of the model's training "
            f"(it keeps {info['test_kept']:.2%} of the test digits)."
        )
        return [nodes.paragraph(text=text), nodes.paragraph(text=unsure)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("demo-facts", DemoFacts)
    app.connect("builder-inited", _builder_inited)
    app.connect("build-finished", _build_finished)
    app.connect("env-get-outdated", _always_reread)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
