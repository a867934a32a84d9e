"""Tests of mnistkit.scratch: the NumPy network with hand-derived backpropagation."""

from __future__ import annotations

import contextlib
import importlib
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

from mnistkit.datasets import DatasetSplits
from mnistkit.exceptions import ConfigError
from mnistkit.scratch import (
    NumpyMLP,
    ScratchHistory,
    numerical_gradient,
    relative_error,
)

TRAINABLE = ["relu", "sigmoid", "tanh"]
Grads = tuple[list[npt.NDArray[Any]], list[npt.NDArray[Any]]]


def _toy_data(
    n: int = 7, n_features: int = 6, n_classes: int = 3, seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features))  # like pixels scaled to [0, 1]
    y = rng.integers(0, n_classes, size=n)
    return X, y


def _max_relative_error(a: Grads, b: Grads) -> float:
    pairs = [*zip(a[0], b[0], strict=True), *zip(a[1], b[1], strict=True)]
    return max(relative_error(x, y) for x, y in pairs)


def _torch_gradients(model: NumpyMLP, X: npt.NDArray[Any], y: npt.NDArray[Any]) -> Grads:
    """Gradients of the same network's mean cross-entropy by torch.autograd, in float64."""
    weights = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in model.weights]
    biases = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in model.biases]
    hidden = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[model.activation]
    a = torch.tensor(X, dtype=torch.float64)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        a = a @ w + b
        if i < len(weights) - 1:
            a = hidden(a)
    cost = torch.nn.functional.cross_entropy(a, torch.tensor(y, dtype=torch.int64))
    grads = [g.numpy() for g in torch.autograd.grad(cost, [*weights, *biases])]
    return grads[: len(weights)], grads[len(weights) :]


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("activation", TRAINABLE)
def test_backward_matches_finite_differences(activation: str) -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 4, 3], activation=activation, seed=1)  # type: ignore[arg-type]
    analytic = model.backward(X, y)
    numeric = numerical_gradient(model, X, y)
    assert _max_relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("activation", TRAINABLE)
def test_backward_matches_torch_autograd(activation: str) -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 4, 3], activation=activation, seed=2)  # type: ignore[arg-type]
    analytic = model.backward(X, y)
    autograd = _torch_gradients(model, X, y)
    assert _max_relative_error(analytic, autograd) < 1e-6


@pytest.mark.parametrize("activation", TRAINABLE)
def test_forward_and_loss_match_torch(activation: str) -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 3], activation=activation, seed=3)  # type: ignore[arg-type]
    hidden = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[activation]
    w0, w1 = (torch.from_numpy(w) for w in model.weights)
    b0, b1 = (torch.from_numpy(b) for b in model.biases)
    logits = hidden(torch.from_numpy(X) @ w0 + b0) @ w1 + b1
    expected_p = torch.softmax(logits, dim=1).numpy()
    expected_losses = torch.nn.functional.cross_entropy(
        logits, torch.from_numpy(y), reduction="none"
    ).numpy()
    np.testing.assert_allclose(model.forward(X), expected_p, rtol=1e-12)
    np.testing.assert_allclose(model.sample_losses(X, y), expected_losses, rtol=1e-12)
    assert model.loss(X, y) == pytest.approx(float(expected_losses.mean()), rel=1e-12)


def test_logistic_regression_gradients() -> None:
    X, y = _toy_data(n_classes=4)
    model = NumpyMLP([6, 4], seed=0)  # no hidden layer: softmax regression
    assert _max_relative_error(model.backward(X, y), numerical_gradient(model, X, y)) < 1e-6


def test_numerical_gradient_leaves_model_unchanged() -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 3], seed=0)
    before = [w.copy() for w in model.weights] + [b.copy() for b in model.biases]
    numerical_gradient(model, X, y)
    after = model.weights + model.biases
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


def test_backward_returns_shapes_and_does_not_move_parameters() -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 4, 3], seed=0)
    before = [w.copy() for w in model.weights]
    grad_weights, grad_biases = model.backward(X, y)
    assert [g.shape for g in grad_weights] == [(6, 5), (5, 4), (4, 3)]
    assert [g.shape for g in grad_biases] == [(5,), (4,), (3,)]
    for old, new in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(old, new)


# --------------------------------------------------------------------------- loss and softmax
def test_loss_is_mean_of_sample_losses() -> None:
    X, y = _toy_data(n=11)
    model = NumpyMLP([6, 8, 3], activation="tanh", seed=0)
    losses = model.sample_losses(X, y)
    assert losses.shape == (11,)
    assert np.all(losses > 0)
    assert model.loss(X, y) == pytest.approx(float(losses.mean()), rel=1e-12)


def test_softmax_and_log_softmax_are_stable_for_huge_logits() -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 3], seed=0)
    model.weights = [w * 1e4 for w in model.weights]  # logits of order 1e8: exp() would overflow
    p = model.forward(X)
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(model.sample_losses(X, y)))
    grad_weights, grad_biases = model.backward(X, y)
    assert all(np.all(np.isfinite(g)) for g in [*grad_weights, *grad_biases])


def test_predict_is_argmax_of_forward() -> None:
    X, _ = _toy_data(n=20)
    model = NumpyMLP([6, 5, 3], seed=0)
    predicted = model.predict(X)
    assert predicted.dtype == np.int64
    np.testing.assert_array_equal(predicted, model.forward(X).argmax(axis=1))


# --------------------------------------------------------------------------- dtype
def test_float32_keeps_dtype_everywhere() -> None:
    X, y = _toy_data(n=40)
    model = NumpyMLP([6, 5, 3], seed=0, dtype=np.float32)
    assert model.dtype == np.float32
    assert all(p.dtype == np.float32 for p in [*model.weights, *model.biases])
    assert model.forward(X).dtype == np.float32  # float64 input is converted
    assert model.forward(X.astype(np.float32)).dtype == np.float32
    assert model.sample_losses(X, y).dtype == np.float32
    grad_weights, grad_biases = model.backward(X, y)
    assert all(g.dtype == np.float32 for g in [*grad_weights, *grad_biases])
    model.step(0.1)
    history = model.fit(X, y, epochs=2, lr=0.1, batch_size=8)
    assert history.epochs == 2
    assert all(p.dtype == np.float32 for p in [*model.weights, *model.biases])


def test_float32_gradients_agree_with_float64() -> None:
    X, y = _toy_data(n=40)
    g32 = NumpyMLP([6, 5, 3], activation="sigmoid", dtype=np.float32).backward(X, y)
    g64 = NumpyMLP([6, 5, 3], activation="sigmoid", dtype=np.float64).backward(X, y)
    assert _max_relative_error(g32, g64) < 1e-5


# --------------------------------------------------------------------------- threshold unit
def test_threshold_runs_forward_but_refuses_gradients() -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 3], activation="threshold", seed=0)
    p = model.forward(X)
    assert p.shape == (7, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.isfinite(model.loss(X, y))
    with pytest.raises(ConfigError, match="zero almost everywhere"):
        model.backward(X, y)
    with pytest.raises(ConfigError, match="activation='threshold'"):
        model.fit(X, y, epochs=1, lr=0.1, batch_size=4)


def test_threshold_hidden_gradients_are_zero_numerically() -> None:
    # The teaching point behind refusing backward(): finite differences find no slope below
    # the output layer, because a small nudge never flips a step unit.
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 3], activation="threshold", seed=0)
    grad_weights, grad_biases = numerical_gradient(model, X, y)
    assert not np.any(grad_weights[0])
    assert not np.any(grad_biases[0])
    assert np.any(grad_weights[1])


# --------------------------------------------------------------------------- init, step, fit
def test_initialisation_follows_he_and_glorot() -> None:
    relu = NumpyMLP([784, 500, 10], activation="relu", seed=0)
    assert np.std(relu.weights[0]) == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    tanh = NumpyMLP([784, 500, 10], activation="tanh", seed=0)
    limit = math.sqrt(6 / (784 + 500))
    assert np.max(np.abs(tanh.weights[0])) <= limit
    assert np.std(tanh.weights[0]) == pytest.approx(limit / math.sqrt(3), rel=0.02)
    output_limit = math.sqrt(6 / (500 + 10))
    assert np.max(np.abs(relu.weights[1])) <= output_limit
    assert all(not np.any(b) for b in [*relu.biases, *tanh.biases])


def test_same_seed_same_network() -> None:
    a, b, c = (NumpyMLP([6, 5, 3], seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    assert not np.array_equal(a.weights[0], c.weights[0])


def test_repr_and_properties() -> None:
    model = NumpyMLP((784, 128, 10), activation="sigmoid", seed=3, dtype=np.float32)
    assert repr(model) == (
        "NumpyMLP(layer_sizes=(784, 128, 10), activation='sigmoid', seed=3, dtype=float32)"
    )
    assert model.layer_sizes == (784, 128, 10)
    assert model.num_classes == 10
    with pytest.warns(DeprecationWarning, match=r"n_classes is deprecated; use .*num_classes"):
        assert model.n_classes == 10  # the old name, until it is removed
    assert model.n_parameters == 784 * 128 + 128 + 128 * 10 + 10


def test_step_applies_last_gradients() -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 3], seed=0)
    with pytest.raises(ConfigError, match=r"call backward\(X, y\) first"):
        model.step(0.1)
    before_w = [w.copy() for w in model.weights]
    before_b = [b.copy() for b in model.biases]
    cost_before = model.loss(X, y)
    grad_weights, grad_biases = model.backward(X, y)
    model.step(0.5)
    for old, new, g in zip(before_w, model.weights, grad_weights, strict=True):
        np.testing.assert_allclose(new, old - 0.5 * g)
    for old, new, g in zip(before_b, model.biases, grad_biases, strict=True):
        np.testing.assert_allclose(new, old - 0.5 * g)
    assert model.loss(X, y) < cost_before


def test_fit_learns_toy_problem_and_records_history() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((200, 2))
    y = (X[:, 0] > X[:, 1]).astype(np.int64)  # linearly separable
    model = NumpyMLP([2, 16, 2], activation="tanh", seed=0)
    history = model.fit(X, y, epochs=100, lr=0.5, batch_size=16, X_val=X[:50], y_val=y[:50])
    assert isinstance(history, ScratchHistory)
    assert history.epochs == 100
    assert len(history.train_accuracy) == len(history.val_cost) == len(history.val_accuracy) == 100
    assert history.train_cost[-1] < history.train_cost[0]
    assert history.val_accuracy[-1] >= 0.95
    assert np.mean(model.predict(X) == y) >= 0.95


def test_fit_without_validation_and_with_ragged_last_batch() -> None:
    X, y = _toy_data(n=10)
    history = NumpyMLP([6, 4, 3], seed=0).fit(X, y, epochs=3, lr=0.1, batch_size=4)
    assert history.val_cost == []
    assert history.val_accuracy == []
    assert all(0.0 <= a <= 1.0 for a in history.train_accuracy)


def test_fit_is_reproducible() -> None:
    X, y = _toy_data(n=30)
    runs = []
    for _ in range(2):
        model = NumpyMLP([6, 4, 3], seed=5)
        runs.append(model.fit(X, y, epochs=3, lr=0.2, batch_size=7, seed=11).train_cost)
    assert runs[0] == runs[1]


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layer_sizes": []}, "layer_sizes"),
        ({"layer_sizes": [784]}, "layer_sizes"),
        ({"layer_sizes": [784, 0, 10]}, "layer_sizes"),
        ({"layer_sizes": [784, -5, 10]}, "layer_sizes"),
        ({"layer_sizes": [784, 12.5, 10]}, "layer_sizes"),
        ({"layer_sizes": [784, True, 10]}, "layer_sizes"),
        ({"layer_sizes": "784"}, "layer_sizes"),
        ({"layer_sizes": 784}, "layer_sizes"),
        ({"layer_sizes": [4, 3], "activation": "rleu"}, "did you mean 'relu'"),
        ({"layer_sizes": [4, 3], "activation": "softmax"}, "activation"),
        ({"layer_sizes": [4, 3], "dtype": np.float16}, "dtype"),
        ({"layer_sizes": [4, 3], "dtype": np.int32}, "dtype"),
        ({"layer_sizes": [4, 3], "dtype": "not a dtype"}, "dtype"),
        ({"layer_sizes": [4, 3], "seed": 1.5}, "seed"),
        ({"layer_sizes": [4, 3], "seed": None}, "seed"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        NumpyMLP(**kwargs)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros(6), r"must be 2-D.*shape \(6,\)"),
        (np.zeros((2, 28, 28)), "must be 2-D"),
        (np.zeros((3, 5)), r"layer_sizes\[0\] = 6 columns"),
        (np.zeros((0, 6)), "at least one sample"),
        (np.zeros((3, 6), dtype=np.uint8), r"must hold floats.*uint8.*/ 255"),
        (np.full((3, 6), np.nan), "finite"),
    ],
)
def test_bad_features(X: npt.NDArray[Any], match: str) -> None:
    model = NumpyMLP([6, 5, 3])
    with pytest.raises(ConfigError, match="'X'"):
        model.forward(X)
    with pytest.raises(ConfigError, match=match):
        model.predict(X)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.array([0, 1]), r"one label per row.*\(3,\).*\(2,\)"),
        (np.zeros((3, 1), dtype=np.int64), "1-D"),
        (np.array([0.0, 1.0, 2.0]), "integer class indices.*float64"),
        (np.array([0, 1, 3]), r"\[0, 2\].*contains 3"),
        (np.array([0, -1, 2]), "contains -1"),
    ],
)
def test_bad_labels(y: npt.NDArray[Any], match: str) -> None:
    model = NumpyMLP([6, 5, 3])
    X = np.zeros((3, 6))
    for method in (model.loss, model.sample_losses, model.backward):
        with pytest.raises(ConfigError, match=match):
            method(X, y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "'epochs' must be a positive integer, but got 0"),
        ({"epochs": 2.0}, "'epochs' must be a positive integer, but got 2.0"),
        ({"lr": 0.0}, "'lr' must be a positive number, but got 0.0"),
        ({"lr": -0.1}, "'lr'"),
        ({"lr": float("nan")}, "'lr'"),
        ({"lr": "0.1"}, "'lr'"),
        ({"batch_size": 0}, "'batch_size'"),
        ({"seed": "0"}, "'seed'"),
        ({"X_val": np.zeros((2, 6))}, "'X_val' was given without 'y_val'"),
        ({"y_val": np.zeros(2, dtype=np.int64)}, "'y_val' was given without 'X_val'"),
        ({"X_val": np.zeros((2, 5)), "y_val": np.zeros(2, dtype=np.int64)}, "'X_val'"),
        ({"X_val": np.zeros((2, 6)), "y_val": np.array([0, 9])}, "'y_val'"),
    ],
)
def test_bad_fit_arguments(kwargs: dict[str, Any], match: str) -> None:
    X, y = _toy_data()
    arguments: dict[str, Any] = {"epochs": 1, "lr": 0.1, "batch_size": 4, **kwargs}
    with pytest.raises(ConfigError, match=match):
        NumpyMLP([6, 5, 3]).fit(X, y, **arguments)


def test_bad_step_and_helper_arguments() -> None:
    X, y = _toy_data()
    model = NumpyMLP([6, 5, 3])
    model.backward(X, y)
    with pytest.raises(ConfigError, match="'lr'"):
        model.step(-1.0)
    with pytest.raises(ConfigError, match="'eps'"):
        numerical_gradient(model, X, y, eps=0.0)
    with pytest.raises(ConfigError, match="'model' must be a NumpyMLP"):
        numerical_gradient("not a model", X, y)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="same shape"):
        relative_error(np.zeros(3), np.zeros(4))
    assert issubclass(ConfigError, ValueError)


def test_relative_error() -> None:
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0, 4.0], [1.0, 3.0]) == pytest.approx(0.25)


# --------------------------------------------------------------------------- real MNIST
@pytest.fixture(scope="module")
def mnist_arrays(mnist: DatasetSplits) -> dict[str, npt.NDArray[Any]]:
    """Real MNIST (the conftest ``mnist`` fixture) as flattened float32 pixels in [0, 1]."""
    return {
        "X_train": mnist.train.images.reshape(-1, 784).numpy().astype(np.float32) / 255,
        "y_train": mnist.train.labels.numpy(),
        "X_test": mnist.test.images.reshape(-1, 784).numpy().astype(np.float32) / 255,
        "y_test": mnist.test.labels.numpy(),
    }


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """Limit NumPy's BLAS to one thread where threadpoolctl is installed.

    The products of a minibatch are too small to gain from threads, and on a 2-core machine
    shared with other jobs, contended BLAS threads made this fit 5-25 times slower (3 s against
    18-90 s) in our measurements. Without threadpoolctl the fit simply runs with the default.
    """
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[object] = threadpoolctl.threadpool_limits(
        limits=1, user_api="blas"
    )
    return limits


@pytest.mark.slow
def test_fit_on_real_mnist_reaches_97_percent(
    mnist_arrays: dict[str, npt.NDArray[Any]],
) -> None:
    # 784-128-10, float32, five epochs of plain minibatch SGD on all 60,000 training images:
    # 2-4 s with one BLAS thread on a 2-core CPU, and 97.3-97.7% test accuracy for every seed
    # tried (0 to 4). Batches of 128 rather than 32 also mean fewer, larger matrix products.
    assert mnist_arrays["X_train"].shape == (60_000, 784)
    assert mnist_arrays["X_test"].shape == (10_000, 784)
    model = NumpyMLP([784, 128, 10], activation="relu", seed=0, dtype=np.float32)
    with _one_blas_thread():
        history = model.fit(
            mnist_arrays["X_train"],
            mnist_arrays["y_train"],
            epochs=5,
            lr=0.5,
            batch_size=128,
            seed=0,
            X_val=mnist_arrays["X_test"],
            y_val=mnist_arrays["y_test"],
        )
    accuracy = float(np.mean(model.predict(mnist_arrays["X_test"]) == mnist_arrays["y_test"]))
    assert accuracy == pytest.approx(history.val_accuracy[-1])
    assert accuracy >= 0.97, f"test accuracy {accuracy:.4f} after {history.val_accuracy}"
    assert history.train_cost[-1] < history.train_cost[0]
