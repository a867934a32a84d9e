"""A scikit-learn estimator: :class:`DigitClassifier`, a mnistkit model in pipelines and searches.

:class:`DigitClassifier` follows scikit-learn's estimator contract (``fit``, ``predict``,
``predict_proba``, ``score``, ``get_params``/``set_params``, :func:`sklearn.base.clone`), so a
mnistkit model can sit in a :class:`~sklearn.pipeline.Pipeline`, be tuned by
:class:`~sklearn.model_selection.GridSearchCV` or scored by
:func:`~sklearn.model_selection.cross_val_score`. Its parameters are a recipe's: the
recipe's name, the model, and the :class:`~mnistkit.TrainConfig` fields a search usually
changes. It needs the ``sklearn`` extra::

    pip install ".[sklearn]"

Images come as arrays of shape (N, 784) (scikit-learn's usual layout, as
``fetch_openml("mnist_784")`` gives them) or (N, 28, 28), of ``uint8`` pixels or floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from mnistkit._extras import require

try:
    from sklearn.base import BaseEstimator, ClassifierMixin  # type: ignore[import-untyped]
    from sklearn.utils.multiclass import (  # type: ignore[import-untyped]
        check_classification_targets,
    )
    from sklearn.utils.validation import (  # type: ignore[import-untyped]
        check_is_fitted,
        validate_data,
    )
except ImportError:  # the one-line message naming the extra, then the import error
    require("sklearn", "mnistkit.sklearn")
    raise

from mnistkit.datasets import Split
from mnistkit.devices import seed_everything
from mnistkit.inference import predict_proba as _predict_proba
from mnistkit.recipes import Recipe, resolve_recipe
from mnistkit.trainer import Trainer

__all__ = ["DigitClassifier"]

#: Pixels per image: the images are 28 x 28.
_PIXELS = 28 * 28
#: The estimator's parameters that are ``TrainConfig`` fields (``None``: the recipe's).
_CONFIG_PARAMS = (
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "schedule",
    "weight_decay",
    "label_smoothing",
    "seed",
    "device",
    "precision",
)


class DigitClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Train a mnistkit recipe on image arrays, scikit-learn style.

    Parameters
    ----------
    recipe : str, default="fast"
        The recipe (see :func:`mnistkit.recipes.list_recipes`) whose model and settings are
        trained; the parameters below that are not ``None`` replace its values.
    model : str, optional
        A registered model instead of the recipe's (see :func:`mnistkit.list_models`);
        alone, with ``recipe`` left at its default, the model's own recipe is *not*
        chosen: the rule is :func:`mnistkit.recipes.resolve_recipe`'s with both named.
    epochs, batch_size, optimizer, lr, schedule, weight_decay, label_smoothing, seed, \
device, precision : optional
        :class:`~mnistkit.TrainConfig` fields; ``None`` keeps the recipe's.
    pixel_scale : {"auto", 1.0, 255.0}, default="auto"
        What a float pixel's full intensity is: ``1.0`` (pixels in [0, 1]) or ``255.0``
        (as ``fetch_openml("mnist_784")`` gives them). ``"auto"`` takes the training data's
        scale at ``fit`` (255 for ``uint8`` data or floats beyond 1, else 1) and keeps it
        for the float arrays given to prediction. ``uint8`` arrays are always 0-255.

    Attributes
    ----------
    classes_ : numpy.ndarray
        The class labels seen by ``fit``, sorted; predictions are among them.
    n_features_in_ : int
        784.
    model_ : torch.nn.Module
        The trained network (on the CPU), mapping (B, 1, 28, 28) pixels in [0, 1] to
        logits, one per class of :attr:`classes_`.
    recipe_ : dict
        The recipe that was trained, every override applied (:meth:`Recipe.to_dict`).
    config_ : TrainConfig
        Its training settings.
    history_ : History
        The epochs' records.
    pixel_scale_ : float
        The float-pixel scale used (see ``pixel_scale``).

    Notes
    -----
    Float pixels are rounded to 8 bits (MNIST's own depth) before training. Training is
    seeded (``seed``, the recipe's by default), so ``fit`` on the CPU gives the same model
    each time.

    Examples
    --------
    >>> from mnistkit.sklearn import DigitClassifier
    >>> clf = DigitClassifier("fast")  # doctest: +SKIP
    >>> clf.fit(X_train, y_train).score(X_test, y_test)  # doctest: +SKIP
    """

    def __init__(
        self,
        recipe: str = "fast",
        *,
        model: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        optimizer: str | None = None,
        lr: float | None = None,
        schedule: str | None = None,
        weight_decay: float | None = None,
        label_smoothing: float | None = None,
        seed: int | None = None,
        device: str | None = "cpu",
        precision: str | None = None,
        pixel_scale: str | float = "auto",
    ) -> None:
        # scikit-learn's rule: store the parameters as given, check them in fit
        self.recipe = recipe
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.seed = seed
        self.device = device
        self.precision = precision
        self.pixel_scale = pixel_scale

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (N, 28, 28) images
        tags.input_tags.positive_only = True  # pixel intensities
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.poor_score = True  # a check's few toy points are not digits
        return tags

    # ------------------------------------------------------------------ data
    def _pixels(self, X: Any, y: Any = None, *, reset: bool) -> tuple[npt.NDArray[Any], Any]:
        """``X`` as (N, 784) numbers and ``y`` as labels, checked by scikit-learn
        (``reset``: as in ``fit``)."""
        if np.ndim(X) == 3:  # (N, 28, 28)
            X = np.asarray(X)
            if X.shape[1:] != (28, 28):
                raise ValueError(
                    f"DigitClassifier takes images of 28 x 28 pixels, but X has shape {X.shape}"
                )
            X = X.reshape(len(X), _PIXELS)
        dtypes = [np.uint8, np.float32, np.float64]  # others become float64
        if y is None:
            X = validate_data(self, X, reset=reset, dtype=dtypes)
        else:
            X, y = validate_data(self, X, y, reset=reset, dtype=dtypes)
        if y is not None:
            check_classification_targets(y)  # a continuous target is named as such first
        if X.shape[1] != _PIXELS:
            raise ValueError(
                f"DigitClassifier takes images of 28 x 28 = {_PIXELS} pixels, as arrays of "
                f"shape (N, {_PIXELS}) or (N, 28, 28), but X has {X.shape[1]} features"
            )
        return np.asarray(X), y

    def _to_uint8(self, X: npt.NDArray[Any]) -> torch.Tensor:
        """(N, 784) pixels -> (N, 28, 28) uint8 tensor."""
        if X.dtype != np.uint8:
            if np.any(X < 0) or np.any(self.pixel_scale_ < X):
                raise ValueError(
                    f"DigitClassifier: float pixels must lie in [0, {self.pixel_scale_:g}] "
                    f"(pixel_scale={self.pixel_scale!r}), but X ranges over "
                    f"[{X.min():g}, {X.max():g}]"
                )
            X = np.rint(X * (255.0 / self.pixel_scale_)).astype(np.uint8)
        return torch.from_numpy(np.ascontiguousarray(X).reshape(-1, 28, 28))

    def _scale(self, X: npt.NDArray[Any]) -> float:
        if self.pixel_scale == "auto":
            # the training data's scale: uint8 pixels, or floats beyond 1, are 0-255
            return 255.0 if X.dtype == np.uint8 or float(X.max(initial=0.0)) > 1.0 else 1.0
        if self.pixel_scale in (1, 1.0, 255, 255.0) and not isinstance(self.pixel_scale, bool):
            return float(self.pixel_scale)
        raise ValueError(
            f"DigitClassifier: parameter 'pixel_scale' must be 'auto', 1.0 or 255.0, but got "
            f"{self.pixel_scale!r}"
        )

    def _resolved_recipe(self) -> Recipe:
        recipe = resolve_recipe(self.recipe, model=self.model)
        changes = {name: getattr(self, name) for name in _CONFIG_PARAMS}
        return recipe.replace(progress=False, **{k: v for k, v in changes.items() if v is not None})

    # ------------------------------------------------------------------ estimator
    def fit(self, X: Any, y: Any) -> DigitClassifier:
        """Train a fresh model on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (N, 784) or (N, 28, 28)
            ``uint8`` pixels, or floats (see ``pixel_scale``).
        y : array-like of shape (N,)
            Class labels: numbers or strings, at least two distinct ones.

        Returns
        -------
        DigitClassifier
            This estimator, fitted.
        """
        if y is None:
            raise ValueError("DigitClassifier requires y to be passed, but the target y is None")
        X, y = self._pixels(X, y, reset=True)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"DigitClassifier needs at least 2 classes to learn, but y has 1 class: "
                f"{classes[0]!r}"
            )
        self.pixel_scale_ = self._scale(X)
        recipe = self._resolved_recipe()
        split = Split(
            self._to_uint8(X),
            torch.from_numpy(encoded.astype(np.int64)),
            [str(c) for c in classes],
            name="fit",
        )
        seed_everything(recipe.config.seed)  # the initial weights follow the seed
        network = recipe.build_model("mnist", num_classes=len(classes))
        trainer = Trainer(network, recipe.config, augment=recipe.augment)
        self.history_ = trainer.fit(split)
        self.model_ = trainer.inference_model.to("cpu").eval()
        self.classes_ = classes
        self.recipe_ = recipe.to_dict()  # plain data: a fitted estimator pickles
        self.config_ = recipe.config
        return self

    def predict_proba(self, X: Any) -> npt.NDArray[np.float64]:
        """Class probabilities of images ``X``.

        Parameters
        ----------
        X : array-like of shape (N, 784) or (N, 28, 28)
            As for :meth:`fit`.

        Returns
        -------
        numpy.ndarray of shape (N, n_classes)
            Each row sums to 1; columns follow :attr:`classes_`.
        """
        check_is_fitted(self)
        images = self._to_uint8(self._pixels(X, reset=False)[0])
        probs = _predict_proba(self.model_, images, device=self.config_.device)
        out = probs.double().numpy()
        return np.asarray(out / out.sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """The most probable class of each image.

        Parameters
        ----------
        X : array-like of shape (N, 784) or (N, 28, 28)
            As for :meth:`fit`.

        Returns
        -------
        numpy.ndarray of shape (N,)
            Labels from :attr:`classes_`.
        """
        best = self.predict_proba(X).argmax(axis=1)  # checks first that fit was called
        return np.asarray(self.classes_[best])
