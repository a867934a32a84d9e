"""Models: a registry of builders and the networks themselves.

>>> from mnistkit.models import get_model, list_models
>>> list_models()
['cnn', 'deepcnn', 'lenet5', 'linear', 'mlp', 'resnet']
"""

from __future__ import annotations

from mnistkit.models._registry import architecture_of, get_model, list_models, register_model
from mnistkit.models.ensemble import ONE_PIXEL_SHIFTS, Ensemble, TestTimeAugmentation, shift_images
from mnistkit.models.networks import CNN, MLP, DeepCNN, LeNet5, Linear, ResNet
from mnistkit.models.normalize import Normalize
from mnistkit.models.summary import LayerInfo, ModelSummary, summary

__all__ = [
    "CNN",
    "MLP",
    "ONE_PIXEL_SHIFTS",
    "DeepCNN",
    "Ensemble",
    "LayerInfo",
    "LeNet5",
    "Linear",
    "ModelSummary",
    "Normalize",
    "ResNet",
    "TestTimeAugmentation",
    "architecture_of",
    "get_model",
    "list_models",
    "register_model",
    "shift_images",
    "summary",
]
