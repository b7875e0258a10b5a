"""What a trained network predicts: the configured classifier's labels and scores (:func:`classify`) and the AU
detection head's probabilities (:func:`au_probabilities`), mirror-averaged with ``tta_flip``."""

from __future__ import annotations

import numpy as np
import torch

from mer_ray.data.inputs import InputBuilder
from mer_ray.training.classifiers import make_classifier
from mer_ray.training.config import TrainConfig


def au_probabilities(config: TrainConfig, model: torch.nn.Module, builder: InputBuilder, rows: np.ndarray,
                     device: str) -> np.ndarray:
    """(N, K) float64 sigmoid of the multi-label head's logits (mirror-averaged logits with ``tta_flip``)."""
    from mer_ray.training.classifiers import network_outputs

    logits = network_outputs(model, builder, rows, device, embed=False, mirror=config.tta_flip)
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def classify(config: TrainConfig, model: torch.nn.Module, builder: InputBuilder, labels: np.ndarray,
             train_rows: np.ndarray, test_rows: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Fit the configured classifier on the TRAINING rows of a trained network; ``(y_pred, scores)`` of
    ``test_rows``."""
    fitted = make_classifier(config).fit(model, builder, train_rows, labels[train_rows], device)
    return fitted.predict(model, builder, test_rows, device)

