r"""A fully connected network written with NumPy alone, for learning how backpropagation works.

:class:`NumpyMLP` is the network a textbook draws: layers of weights and biases, a hidden
activation, a softmax output and a cross-entropy cost, with the gradients derived by hand rather
than by automatic differentiation. It is slow next to PyTorch and has no GPU support; it exists to
be read. Use :mod:`mnistkit.models` with the trainer for real work.

Notation
--------
Layer :math:`l = 1, \dots, L` holds a weight matrix :math:`W_l` of shape ``(fan_in, fan_out)``
(``weights[l - 1]``) and a bias vector :math:`b_l` of shape ``(fan_out,)`` (``biases[l - 1]``).
Samples are the *rows* of the input, so a whole minibatch ``X`` of shape ``(N, D)`` goes through a
layer at once:

.. math::

    a_0 = X, \qquad z_l = a_{l-1} W_l + b_l, \qquad a_l = f(z_l) \quad (l < L),
    \qquad p = \operatorname{softmax}(z_L).

Loss and cost
-------------
The *loss* of one sample :math:`i` with true class :math:`y_i` is its cross-entropy,
:math:`\ell_i = -\log p_{i, y_i}`. The *cost* of a batch is the mean of its samples' losses,
:math:`C = \frac{1}{N} \sum_i \ell_i`; it is the number gradient descent lowers.
:meth:`NumpyMLP.sample_losses` returns the :math:`\ell_i`, :meth:`NumpyMLP.loss` returns
:math:`C`.

Backpropagation
---------------
Write :math:`\delta_l = \partial C / \partial z_l` (shape ``(N, fan_out)``). For softmax followed
by cross-entropy the output error is simply

.. math::

    \delta_L = \frac{1}{N} \bigl(p - \operatorname{onehot}(y)\bigr),

and the chain rule carries it back one layer at a time:

.. math::

    \frac{\partial C}{\partial W_l} = a_{l-1}^\top \delta_l, \qquad
    \frac{\partial C}{\partial b_l} = \sum_{i} \delta_{l, i}, \qquad
    \delta_{l-1} = \bigl(\delta_l W_l^\top\bigr) \odot f'(z_{l-1}).

The :math:`1/N` in :math:`\delta_L` is where the cost's mean enters; every gradient inherits it.
:meth:`NumpyMLP.backward` implements these three lines; :func:`numerical_gradient` checks them with
central finite differences and :func:`relative_error` compares the two.

Hidden activations
------------------
``"relu"`` :math:`\max(0, z)`, ``"sigmoid"`` :math:`1 / (1 + e^{-z})`, ``"tanh"``, and the
perceptron's step unit ``"threshold"`` (:math:`1` if :math:`z > 0`, else :math:`0`). The step unit
runs forward but cannot be trained by gradient descent: its derivative is zero wherever it exists,
so every :math:`\delta_l` below the output layer is zero and the hidden weights never move. That is
why networks use smooth (or piecewise-linear) activations; :meth:`NumpyMLP.backward` and
:meth:`NumpyMLP.fit` refuse it with a :class:`~mnistkit.exceptions.ConfigError` that says so.

Input
-----
``X`` holds one flattened image per row as floats in ``[0, 1]``: reshape each 28x28 MNIST image to
784 values and divide the ``uint8`` pixels by 255. Labels ``y`` are integers in
``[0, layer_sizes[-1])``.

Examples
--------
>>> import numpy as np
>>> from mnistkit.scratch import NumpyMLP
>>> rng = np.random.default_rng(0)
>>> X = rng.random((32, 784))  # stand-ins for 32 flattened images scaled to [0, 1]
>>> y = rng.integers(0, 10, size=32)
>>> model = NumpyMLP([784, 64, 10], activation="relu", seed=0)
>>> model.forward(X).shape
(32, 10)
>>> grad_weights, grad_biases = model.backward(X, y)
>>> [g.shape for g in grad_weights]
[(784, 64), (64, 10)]
>>> model.step(0.1)  # W -= 0.1 * dW, b -= 0.1 * db
"""

from __future__ import annotations

import difflib
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast, get_args

import numpy as np
import numpy.typing as npt

from mnistkit._validation import as_int, check_int, check_number
from mnistkit.exceptions import ConfigError

__all__ = [
    "Activation",
    "NumpyMLP",
    "ScratchHistory",
    "numerical_gradient",
    "relative_error",
]

_logger = logging.getLogger(__name__)

Activation: TypeAlias = Literal["relu", "sigmoid", "tanh", "threshold"]
"""Names of the hidden activations :class:`NumpyMLP` accepts."""

FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
IntArray: TypeAlias = npt.NDArray[np.integer[Any]]

_ACTIVATIONS: tuple[str, ...] = get_args(Activation)
_DTYPES: tuple[np.dtype[Any], ...] = (np.dtype(np.float32), np.dtype(np.float64))
_THRESHOLD_MESSAGE = (
    "activation='threshold' cannot be trained by gradient descent: the step function's "
    "derivative is zero almost everywhere (and undefined at 0), so every gradient below the "
    "output layer would vanish and the hidden weights would never change. Use the forward pass "
    "only, or build the model with activation='sigmoid' (the step's smooth cousin), 'tanh' or "
    "'relu' to train it"
)


@dataclass(frozen=True, slots=True)
class ScratchHistory:
    """Per-epoch record of :meth:`NumpyMLP.fit`; element ``k`` of each list belongs to epoch ``k``.

    Parameters
    ----------
    train_cost : list of float
        Mean cross-entropy over the epoch's training samples, each measured in the forward pass of
        its minibatch (so with the weights of that moment, as training curves usually show it).
    train_accuracy : list of float
        Fraction of the epoch's training samples classified correctly in those same passes.
    val_cost : list of float, default=[]
        Mean cross-entropy on ``(X_val, y_val)`` after the epoch; empty without validation data.
    val_accuracy : list of float, default=[]
        Accuracy on ``(X_val, y_val)`` after the epoch; empty without validation data.
    """

    train_cost: list[float]
    train_accuracy: list[float]
    val_cost: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_cost)


class NumpyMLP:
    """A fully connected softmax classifier with hand-derived backpropagation, in NumPy.

    The module docstring of :mod:`mnistkit.scratch` derives the equations this class implements.

    Parameters
    ----------
    layer_sizes : sequence of int
        Width of every layer, input first and classes last, e.g. ``[784, 128, 10]`` for MNIST with
        one hidden layer of 128 units. At least two entries, each a positive integer; two entries
        give multinomial logistic regression.
    activation : {"relu", "sigmoid", "tanh", "threshold"}, default="relu"
        Activation of every hidden layer. ``"threshold"`` (the perceptron's step unit) is
        forward-only: :meth:`backward` and :meth:`fit` raise
        :class:`~mnistkit.exceptions.ConfigError` for it.
    seed : int, default=0
        Seed of the random weight initialisation; equal seeds give equal networks.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Floating-point type of the parameters and of every computed array. Inputs are converted to
        it. Use float64 for gradient checks; float32 trains about twice as fast.

    Attributes
    ----------
    weights : list of numpy.ndarray
        ``weights[i]`` has shape ``(layer_sizes[i], layer_sizes[i + 1])``; a layer computes
        ``z = a @ weights[i] + biases[i]``.
    biases : list of numpy.ndarray
        ``biases[i]`` has shape ``(layer_sizes[i + 1],)``.

    Notes
    -----
    Initialisation keeps the variance of the signal roughly constant from layer to layer, so that
    neither the activations nor the gradients shrink or blow up with depth. A layer whose output
    goes through ReLU draws its weights from He (Kaiming) normal, :math:`\\mathcal{N}(0,\\,
    2 / \\text{fan\\_in})`: ReLU zeroes half of its inputs, and the factor 2 makes up for it. Every
    other layer (sigmoid, tanh or threshold hidden layers, and the output layer) draws from Glorot
    (Xavier) uniform, :math:`\\mathcal{U}(-r, r)` with :math:`r = \\sqrt{6 / (\\text{fan\\_in} +
    \\text{fan\\_out})}`, which balances the forward and backward variances of units that are
    roughly linear near zero. Biases start at zero.

    Examples
    --------
    >>> model = NumpyMLP([784, 128, 10], activation="tanh", seed=1)
    >>> model
    NumpyMLP(layer_sizes=(784, 128, 10), activation='tanh', seed=1, dtype=float64)
    >>> [w.shape for w in model.weights]
    [(784, 128), (128, 10)]
    """

    weights: list[FloatArray]
    biases: list[FloatArray]

    def __init__(
        self,
        layer_sizes: Sequence[int],
        *,
        activation: Activation = "relu",
        seed: int = 0,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        self._layer_sizes = _check_layer_sizes(layer_sizes)
        self._activation: Activation = _check_activation(activation)
        self._seed = check_int(seed, "seed", minimum=0)
        self._dtype = _check_dtype(dtype)
        self._grads: tuple[list[FloatArray], list[FloatArray]] | None = None

        rng = np.random.default_rng(self._seed)
        self.weights = []
        self.biases = []
        n_layers = len(self._layer_sizes) - 1
        for i, (fan_in, fan_out) in enumerate(
            zip(self._layer_sizes[:-1], self._layer_sizes[1:], strict=True)
        ):
            hidden = i < n_layers - 1
            if hidden and self._activation == "relu":
                w = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            else:
                r = math.sqrt(6.0 / (fan_in + fan_out))
                w = rng.uniform(-r, r, size=(fan_in, fan_out))
            self.weights.append(w.astype(self._dtype))
            self.biases.append(np.zeros(fan_out, dtype=self._dtype))

    # ------------------------------------------------------------------ properties
    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Widths of all layers, input first and classes last."""
        return self._layer_sizes

    @property
    def activation(self) -> Activation:
        """Activation of the hidden layers."""
        return self._activation

    @property
    def seed(self) -> int:
        """Seed the weights were initialised with."""
        return self._seed

    @property
    def dtype(self) -> np.dtype[Any]:
        """Floating-point type of the parameters and computations."""
        return self._dtype

    @property
    def num_classes(self) -> int:
        """Number of output classes, ``layer_sizes[-1]``."""
        return self._layer_sizes[-1]

    @property
    def n_classes(self) -> int:
        """Deprecated alias of :attr:`num_classes` (the name used everywhere else in mnistkit).

        .. deprecated:: 0.2
           Use :attr:`num_classes`; ``n_classes`` will be removed.
        """
        warnings.warn(
            "NumpyMLP.n_classes is deprecated; use NumpyMLP.num_classes instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.num_classes

    @property
    def n_parameters(self) -> int:
        """Total number of weights and biases."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(layer_sizes={self._layer_sizes}, "
            f"activation={self._activation!r}, seed={self._seed}, dtype={self._dtype.name})"
        )

    # ------------------------------------------------------------------ inference
    def forward(self, X: npt.ArrayLike) -> FloatArray:
        """Class probabilities of every sample.

        Parameters
        ----------
        X : array-like of shape (N, layer_sizes[0])
            Samples as rows of floats, pixels scaled to ``[0, 1]``.

        Returns
        -------
        numpy.ndarray of shape (N, num_classes)
            Softmax probabilities in the model's dtype; every row sums to 1.
        """
        x = self._check_features(X)
        return _softmax(self._logits(x))

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Most probable class of every sample.

        Parameters
        ----------
        X : array-like of shape (N, layer_sizes[0])
            Samples as rows of floats, pixels scaled to ``[0, 1]``.

        Returns
        -------
        numpy.ndarray of shape (N,), dtype int64
            Predicted class indices.
        """
        x = self._check_features(X)
        classes: npt.NDArray[np.int64] = np.argmax(self._logits(x), axis=1).astype(np.int64)
        return classes

    def sample_losses(self, X: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
        """Cross-entropy loss of each sample, :math:`\\ell_i = -\\log p_{i, y_i}`.

        Parameters
        ----------
        X : array-like of shape (N, layer_sizes[0])
            Samples as rows of floats, pixels scaled to ``[0, 1]``.
        y : array-like of int, shape (N,)
            True classes, in ``[0, num_classes)``.

        Returns
        -------
        numpy.ndarray of shape (N,)
            One loss per sample, in the model's dtype. Their mean is :meth:`loss`.
        """
        x, labels = self._check_data(X, y)
        log_p = _log_softmax(self._logits(x))
        return -log_p[np.arange(labels.shape[0]), labels]

    def loss(self, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Cost of the batch: the mean of its samples' cross-entropy losses.

        :math:`C = \\frac{1}{N} \\sum_i -\\log p_{i, y_i}`, computed from the logits with a stable
        log-softmax so that confident wrong answers give a large finite cost, never ``inf``.

        Parameters
        ----------
        X : array-like of shape (N, layer_sizes[0])
            Samples as rows of floats, pixels scaled to ``[0, 1]``.
        y : array-like of int, shape (N,)
            True classes, in ``[0, num_classes)``.

        Returns
        -------
        float
            The batch's cost, the quantity :meth:`backward` differentiates.
        """
        return float(np.mean(self.sample_losses(X, y)))

    # ------------------------------------------------------------------ training
    def backward(
        self, X: npt.ArrayLike, y: npt.ArrayLike
    ) -> tuple[list[FloatArray], list[FloatArray]]:
        """Gradients of the batch cost :meth:`loss` with respect to every weight and bias.

        Runs a forward pass that keeps every :math:`z_l` and :math:`a_l`, then goes back through
        the layers:

        .. math::

            \\delta_L = (p - \\operatorname{onehot}(y)) / N, \\quad
            \\partial C / \\partial W_l = a_{l-1}^\\top \\delta_l, \\quad
            \\partial C / \\partial b_l = \\textstyle\\sum_i \\delta_{l, i}, \\quad
            \\delta_{l-1} = (\\delta_l W_l^\\top) \\odot f'(z_{l-1}).

        The gradients are also kept for :meth:`step`. The parameters are not changed.

        Parameters
        ----------
        X : array-like of shape (N, layer_sizes[0])
            Samples as rows of floats, pixels scaled to ``[0, 1]``.
        y : array-like of int, shape (N,)
            True classes, in ``[0, num_classes)``.

        Returns
        -------
        grad_weights : list of numpy.ndarray
            ``grad_weights[i]`` has the shape and dtype of ``weights[i]``.
        grad_biases : list of numpy.ndarray
            ``grad_biases[i]`` has the shape and dtype of ``biases[i]``.

        Raises
        ------
        ConfigError
            If the activation is ``"threshold"`` (its gradient vanishes), or the inputs are
            malformed.
        """
        self._require_differentiable()
        x, labels = self._check_data(X, y)
        grad_weights, grad_biases, _ = self._backprop(x, labels)
        self._grads = (grad_weights, grad_biases)
        return [g.copy() for g in grad_weights], [g.copy() for g in grad_biases]

    def step(self, lr: float) -> None:
        """Take one gradient-descent step with the gradients of the last :meth:`backward` call.

        Every parameter moves against its gradient: ``W -= lr * dW`` and ``b -= lr * db``. The
        gradients are kept, so a second call without a new :meth:`backward` repeats the same step.

        Parameters
        ----------
        lr : float
            Learning rate, a positive finite number.

        Raises
        ------
        ConfigError
            If ``lr`` is not positive and finite, or no gradients have been computed yet.
        """
        rate = check_number(lr, "lr", low=0, low_open=True)
        if self._grads is None:
            raise ConfigError(
                "step() needs gradients but none have been computed: call backward(X, y) first"
            )
        self._apply(self._grads, rate)

    def fit(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        epochs: int,
        lr: float,
        batch_size: int,
        seed: int = 0,
        X_val: npt.ArrayLike | None = None,
        y_val: npt.ArrayLike | None = None,
    ) -> ScratchHistory:
        """Train with minibatch stochastic gradient descent.

        Each epoch visits the training samples in the order ``rng.permutation(N)``, where
        ``rng = numpy.random.default_rng(seed)`` is created once per call, in consecutive batches
        of ``batch_size`` (the last one may be smaller). Each batch costs one :meth:`backward` and
        one :meth:`step`. Progress is logged at INFO level on the ``mnistkit.scratch`` logger.

        Parameters
        ----------
        X : array-like of shape (N, layer_sizes[0])
            Training samples as rows of floats, pixels scaled to ``[0, 1]``.
        y : array-like of int, shape (N,)
            Training classes, in ``[0, num_classes)``.
        epochs : int
            Number of passes over the training data, at least 1.
        lr : float
            Learning rate, a positive finite number (``0.1`` suits MNIST with ReLU).
        batch_size : int
            Samples per gradient step, at least 1.
        seed : int, default=0
            Seed of the shuffling.
        X_val, y_val : array-like, optional
            Validation data, evaluated after every epoch; give both or neither.

        Returns
        -------
        ScratchHistory
            Per-epoch training cost and accuracy, and validation cost and accuracy when
            validation data were given.

        Raises
        ------
        ConfigError
            If the activation is ``"threshold"``, an argument is out of range, or the data are
            malformed.

        Notes
        -----
        The time goes into NumPy's matrix products, which call the BLAS library. Minibatch
        products are small, so BLAS threads gain little, and on a machine whose cores are busy
        with other work, waiting threads can make training several times slower. Limiting BLAS to
        one thread (``OPENBLAS_NUM_THREADS=1`` in the environment before Python starts, or
        ``threadpoolctl.threadpool_limits(1)``) then helps, and float32 halves the data each
        product moves (timings in ``benchmarks/RESULTS.md``).
        """
        self._require_differentiable()
        n_epochs = check_int(epochs, "epochs")
        rate = check_number(lr, "lr", low=0, low_open=True)
        size = check_int(batch_size, "batch_size")
        shuffle_seed = check_int(seed, "seed", minimum=0)
        x, labels = self._check_data(X, y)
        if (X_val is None) != (y_val is None):
            given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
            raise ConfigError(
                f"Argument {given!r} was given without {missing!r}: pass both or neither"
            )
        val: tuple[FloatArray, IntArray] | None = None
        if X_val is not None and y_val is not None:
            val = self._check_data(X_val, y_val, x_name="X_val", y_name="y_val")

        history = ScratchHistory(train_cost=[], train_accuracy=[])
        rng = np.random.default_rng(shuffle_seed)
        n = x.shape[0]
        for epoch in range(n_epochs):
            order = rng.permutation(n)
            loss_sum = 0.0
            n_correct = 0
            for start in range(0, n, size):
                batch = order[start : start + size]
                grad_weights, grad_biases, logits = self._backprop(x[batch], labels[batch])
                self._grads = (grad_weights, grad_biases)
                self._apply(self._grads, rate)
                # Losses and hits of this batch, measured before the step just taken.
                log_p = _log_softmax(logits)
                loss_sum -= float(np.sum(log_p[np.arange(batch.shape[0]), labels[batch]]))
                n_correct += int(np.count_nonzero(np.argmax(logits, axis=1) == labels[batch]))
            history.train_cost.append(loss_sum / n)
            history.train_accuracy.append(n_correct / n)
            if val is not None:
                val_cost, val_accuracy = self._evaluate(*val)
                history.val_cost.append(val_cost)
                history.val_accuracy.append(val_accuracy)
            _logger.info(
                "epoch %d/%d: train cost %.4f, train accuracy %.4f%s",
                epoch + 1,
                n_epochs,
                history.train_cost[-1],
                history.train_accuracy[-1],
                ""
                if val is None
                else f", val cost {history.val_cost[-1]:.4f}, "
                f"val accuracy {history.val_accuracy[-1]:.4f}",
            )
        return history

    # ------------------------------------------------------------------ internals
    def _logits(self, x: FloatArray) -> FloatArray:
        a = x  # (N, D)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = a @ w + b  # (N, fan_out)
            a = z if i == last else _activate(self._activation, z)
        return a  # (N, C)

    def _backprop(
        self, x: FloatArray, labels: IntArray
    ) -> tuple[list[FloatArray], list[FloatArray], FloatArray]:
        """Gradients of the mean cross-entropy, plus the logits of the forward pass."""
        # Forward, keeping what the backward pass needs: a_0 .. a_{L-1} and z_1 .. z_L.
        activations = [x]  # a_0 = X, (N, D)
        pre_activations: list[FloatArray] = []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = activations[-1] @ w + b  # (N, fan_out)
            pre_activations.append(z)
            if i < last:
                activations.append(_activate(self._activation, z))
        logits = pre_activations[-1]  # (N, C)

        n = x.shape[0]
        delta = _softmax(logits)  # p, (N, C)
        delta[np.arange(n), labels] -= 1.0  # p - onehot(y)
        delta /= n  # delta_L

        grad_weights: list[FloatArray] = [np.empty(0, dtype=x.dtype)] * len(self.weights)
        grad_biases: list[FloatArray] = [np.empty(0, dtype=x.dtype)] * len(self.biases)
        for layer in range(last, -1, -1):
            grad_weights[layer] = activations[layer].T @ delta  # (fan_in, fan_out)
            grad_biases[layer] = delta.sum(axis=0)  # (fan_out,)
            if layer > 0:  # the input X needs no delta
                delta = (delta @ self.weights[layer].T) * _activation_derivative(
                    self._activation, pre_activations[layer - 1], activations[layer]
                )  # (N, fan_in)
        return grad_weights, grad_biases, logits

    def _apply(self, grads: tuple[list[FloatArray], list[FloatArray]], lr: float) -> None:
        for w, dw in zip(self.weights, grads[0], strict=True):
            w -= lr * dw
        for b, db in zip(self.biases, grads[1], strict=True):
            b -= lr * db

    def _evaluate(self, x: FloatArray, labels: IntArray) -> tuple[float, float]:
        logits = self._logits(x)
        log_p = _log_softmax(logits)
        cost = -float(np.mean(log_p[np.arange(labels.shape[0]), labels]))
        accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
        return cost, accuracy

    def _require_differentiable(self) -> None:
        if self._activation == "threshold":
            raise ConfigError(_THRESHOLD_MESSAGE)

    def _check_features(self, X: npt.ArrayLike, *, name: str = "X") -> FloatArray:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ConfigError(
                f"Argument {name!r} must be 2-D, one flattened sample per row, of shape "
                f"(N, {self._layer_sizes[0]}), but got shape {arr.shape}; reshape images with "
                f"{name}.reshape(len({name}), -1)"
            )
        if arr.shape[1] != self._layer_sizes[0]:
            raise ConfigError(
                f"Argument {name!r} must have layer_sizes[0] = {self._layer_sizes[0]} columns, "
                f"but got shape {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise ConfigError(f"Argument {name!r} must hold at least one sample but got 0 rows")
        if not np.issubdtype(arr.dtype, np.floating):
            raise ConfigError(
                f"Argument {name!r} must hold floats (pixels scaled to [0, 1]) but got dtype "
                f"{arr.dtype}; convert uint8 images with {name}.astype(numpy.float32) / 255"
            )
        arr = arr.astype(self._dtype, copy=False)
        if not np.all(np.isfinite(arr)):
            raise ConfigError(
                f"Argument {name!r} must hold finite numbers but contains NaN or infinity"
            )
        return arr

    def _check_data(
        self,
        X: npt.ArrayLike,
        y: npt.ArrayLike,
        *,
        x_name: str = "X",
        y_name: str = "y",
    ) -> tuple[FloatArray, IntArray]:
        x = self._check_features(X, name=x_name)
        labels = np.asarray(y)
        if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
            raise ConfigError(
                f"Argument {y_name!r} must be 1-D with one label per row of {x_name!r}, shape "
                f"({x.shape[0]},), but got shape {labels.shape}"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise ConfigError(
                f"Argument {y_name!r} must hold integer class indices but got dtype {labels.dtype}"
            )
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= self.num_classes:
            bad = low if low < 0 else high
            raise ConfigError(
                f"Argument {y_name!r} must hold classes in [0, {self.num_classes - 1}] "
                f"(layer_sizes[-1] = {self.num_classes}) but contains {bad}"
            )
        return x, labels.astype(np.intp, copy=False)


# ---------------------------------------------------------------------- public helpers
def numerical_gradient(
    model: NumpyMLP,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    eps: float = 1e-6,
) -> tuple[list[npt.NDArray[np.float64]], list[npt.NDArray[np.float64]]]:
    """Gradient of the batch cost by central finite differences, one parameter at a time.

    For every parameter :math:`\\theta`,

    .. math::

        \\frac{\\partial C}{\\partial \\theta} \\approx
        \\frac{C(\\theta + \\varepsilon) - C(\\theta - \\varepsilon)}{2 \\varepsilon},

    whose error shrinks like :math:`\\varepsilon^2`. It needs two forward passes per parameter,
    so use it on small networks and batches (a few hundred parameters), as a check of
    :meth:`NumpyMLP.backward`.

    The cost is always evaluated in float64 on a copy of the parameters, whatever the model's
    dtype, because in float32 the rounding error of the cost would swamp a difference over so
    small a step. The model is not changed.

    Parameters
    ----------
    model : NumpyMLP
        The network to differentiate. Any activation is accepted; with ``"threshold"`` the hidden
        layers' gradients come out zero, which is the point of trying it.
    X : array-like of shape (N, layer_sizes[0])
        Samples as rows of floats.
    y : array-like of int, shape (N,)
        True classes.
    eps : float, default=1e-6
        Half-width of the difference, a positive finite number.

    Returns
    -------
    grad_weights : list of numpy.ndarray of float64
        Shaped like ``model.weights``.
    grad_biases : list of numpy.ndarray of float64
        Shaped like ``model.biases``.

    Raises
    ------
    ConfigError
        If ``model`` is not a :class:`NumpyMLP`, ``eps`` is not positive and finite, or the data
        are malformed.
    """
    if not isinstance(model, NumpyMLP):
        raise ConfigError(f"Argument 'model' must be a NumpyMLP but got {type(model).__name__}")
    step = check_number(eps, "eps", low=0, low_open=True)
    x, labels = model._check_data(X, y)
    # A float64 twin of the model, so the perturbations below never touch the caller's copy.
    twin = NumpyMLP(model.layer_sizes, activation=model.activation, seed=0, dtype=np.float64)
    twin.weights = [w.astype(np.float64) for w in model.weights]
    twin.biases = [b.astype(np.float64) for b in model.biases]
    x64 = x.astype(np.float64)
    rows = np.arange(labels.shape[0])

    def cost() -> float:
        return -float(np.mean(_log_softmax(twin._logits(x64))[rows, labels]))

    def differentiate(params: list[FloatArray]) -> list[npt.NDArray[np.float64]]:
        grads: list[npt.NDArray[np.float64]] = []
        for param in params:
            grad = np.zeros(param.shape, dtype=np.float64)
            flat, flat_grad = param.reshape(-1), grad.reshape(-1)  # views
            for k in range(flat.size):
                original = flat[k]
                flat[k] = original + step
                cost_plus = cost()
                flat[k] = original - step
                cost_minus = cost()
                flat[k] = original
                flat_grad[k] = (cost_plus - cost_minus) / (2.0 * step)
            grads.append(grad)
        return grads

    return differentiate(twin.weights), differentiate(twin.biases)


def relative_error(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Largest difference between two arrays, relative to their magnitude.

    .. math::

        \\frac{\\max_i |a_i - b_i|}{\\max\\bigl(\\max_i |a_i|,\\, \\max_i |b_i|\\bigr)}

    Scaling by the arrays' largest entry, not entry by entry, keeps gradients that are zero or
    nearly so (dead ReLU units, blank border pixels) from turning round-off into a large ratio.
    For a correct backward pass checked in float64, values around ``1e-8`` or below are typical;
    above ``1e-4`` something is wrong.

    Parameters
    ----------
    a, b : array-like
        Arrays of the same shape, e.g. a gradient from :meth:`NumpyMLP.backward` and one from
        :func:`numerical_gradient`.

    Returns
    -------
    float
        The relative error, ``0.0`` when both arrays are all zeros.

    Raises
    ------
    ConfigError
        If the shapes differ.
    """
    arr_a = np.asarray(a, dtype=np.float64)
    arr_b = np.asarray(b, dtype=np.float64)
    if arr_a.shape != arr_b.shape:
        raise ConfigError(
            f"Arguments 'a' and 'b' must have the same shape but got {arr_a.shape} and "
            f"{arr_b.shape}"
        )
    if arr_a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(arr_a))), float(np.max(np.abs(arr_b))))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(arr_a - arr_b))) / scale


# ---------------------------------------------------------------------- private helpers
def _activate(name: Activation, z: FloatArray) -> FloatArray:
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        # Equal to 1 / (1 + exp(-z)) but never overflows for large negative z.
        sigmoid: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))
        return sigmoid
    if name == "tanh":
        return np.tanh(z)
    step: FloatArray = (z > 0).astype(z.dtype)  # threshold
    return step


def _activation_derivative(name: Activation, z: FloatArray, a: FloatArray) -> FloatArray:
    """f'(z), reusing the activation a = f(z) where that is cheaper."""
    if name == "relu":
        slope: FloatArray = (z > 0).astype(z.dtype)  # ReLU'(0) taken as 0, like PyTorch
        return slope
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    raise ConfigError(_THRESHOLD_MESSAGE)


def _log_softmax(z: FloatArray) -> FloatArray:
    # Subtracting the row maximum changes nothing mathematically and keeps exp() from overflowing.
    shifted = z - np.max(z, axis=1, keepdims=True)
    log_p: FloatArray = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return log_p


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    p: FloatArray = e / np.sum(e, axis=1, keepdims=True)
    return p


def _check_layer_sizes(layer_sizes: Sequence[int]) -> tuple[int, ...]:
    accepted = "a sequence of at least two positive ints, e.g. [784, 128, 10]"
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence):
        raise ConfigError(f"Argument 'layer_sizes' must be {accepted} but got {layer_sizes!r}")
    sizes = tuple(layer_sizes)
    if len(sizes) < 2 or not all((as_int(s) or 0) >= 1 for s in sizes):
        raise ConfigError(f"Argument 'layer_sizes' must be {accepted} but got {layer_sizes!r}")
    return tuple(int(s) for s in sizes)


def _check_activation(activation: str) -> Activation:
    if activation in _ACTIVATIONS:
        return cast(Activation, activation)
    hint = difflib.get_close_matches(str(activation), _ACTIVATIONS, n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ConfigError(
        f"Argument 'activation' must be one of {', '.join(map(repr, _ACTIVATIONS))} but got "
        f"{activation!r}{suggestion}"
    )


def _check_dtype(dtype: npt.DTypeLike) -> np.dtype[Any]:
    accepted = "numpy.float32 or numpy.float64"
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise ConfigError(f"Argument 'dtype' must be {accepted} but got {dtype!r}") from None
    if resolved not in _DTYPES:
        raise ConfigError(f"Argument 'dtype' must be {accepted} but got {resolved.name}")
    return resolved
