"""
Reading digits from photos
==========================

A digit written with a pen on paper and photographed is not a clean picture: the light
falls unevenly across the sheet, ruled or squared lines cross it, specks and the sheet's
edge are in view, and the pen's stroke is thin. :mod:`mnistkit.imaging` sees this and
takes its *photo path* (see :doc:`/user_guide/photos`). Here four such photos are read by
the bundled ``default`` model, once as a clean picture would be and once on the photo
path, and :func:`~mnistkit.imaging.explain_preprocessing` shows what each path made of
them.

The photos (``docs/_static/photos/``, 480x360 JPEGs) were drawn by the test suite's
photo generator (``tests/photos.py``) from pen strokes: nothing in them comes from MNIST.
"""

# %%
# The photos and the model
# ------------------------
# The digit is the last character of each file's name.
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import mnistkit
from mnistkit import pretrained
from mnistkit.imaging import explain_preprocessing, load_images

# the docs build runs the example from its folder, examples/use/
folder = Path("../../docs/_static/photos")
if not folder.is_dir():  # run from the repository's root
    folder = Path("docs/_static/photos")
files = sorted(folder.glob("digit-*.jpg"))
labels = torch.tensor([int(path.stem[-1]) for path in files])
model = pretrained.load("default").model
print([path.name for path in files])

# %%
# The clean path alone
# --------------------
# Today's clean path takes the darker side of the unevenly lit sheet for ink and crops
# to it: the digit ends up a faint part of a grey wedge, and the model guesses.
clean = load_images(files, method="clean")
clean_answers = mnistkit.predict_proba(model, clean).argmax(dim=1)
print("clean path:", clean_answers.tolist(), "true:", labels.tolist())
assert int((clean_answers == labels).sum()) <= 1

# %%
# The photo path
# --------------
# With the default ``method="auto"``, each of these pictures is recognised as a photo;
# the light is removed, lines and specks are dropped, and the strokes are redrawn with
# MNIST's width. Every digit is read right.
images = load_images(files)
answers = mnistkit.predict_proba(model, images).argmax(dim=1)
print("photo path:", answers.tolist())
assert torch.equal(answers, labels)

# %%
# What each path made of the photos
# ---------------------------------
# One row per photo: the photo as analysed, the ink kept as the digit (red), and the
# 28x28 image the model saw. The same figure is what ``mnistkit predict --show`` draws.
fig = explain_preprocessing(
    files,
    titles=[
        f"{p.name}: read {a}" for p, a in zip(files, answers.tolist(), strict=True)
    ],
)
plt.show()
