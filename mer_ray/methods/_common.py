"""What the descriptor methods share: the linear classifier's settings and the spatial block grid."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from mer_ray.infra.validation import from_dict

LINEAR_CLASSIFIERS = ("logreg", "linear_svm")
HEAD_FIELDS = ("classifier", "c", "c_grid", "inner_folds", "row_space")  # the classifier half; the rest: descriptor


def check_head(config: Any) -> None:
    """Validate the classifier fields of a linear method's configuration (``HEAD_FIELDS``)."""
    if config.classifier not in LINEAR_CLASSIFIERS:
        raise ValueError(f"classifier must be one of {list(LINEAR_CLASSIFIERS)}; got {config.classifier!r}")
    if config.c < 0 or (config.c == 0 and not config.c_grid) or any(c <= 0 for c in config.c_grid):
        raise ValueError(f"c must be > 0, or 0 with a grid of positive values; got c={config.c}, "
                         f"c_grid={list(config.c_grid)}")
    if config.inner_folds < 2:
        raise ValueError(f"inner_folds must be >= 2; got {config.inner_folds}")


@dataclass(frozen=True)
class DescriptorConfig:
    """Base of a hand-crafted descriptor + linear classifier method (standardise, then a linear SVM by default).

    Subclasses set ``NAME`` (the method) and add the descriptor's own fields.

    Attributes:
        method: the method's name (``NAME``).
        classifier: ``"linear_svm"`` (one-vs-rest hinge, the baselines' classifier) or ``"logreg"``.
        c: inverse regularisation; 0 = chosen on the training subjects from ``c_grid``.
        c_grid: candidates of the inner choice.
        inner_folds: grouped folds (of training subjects) of the inner choice.
        row_space: fit the classifier on the standardised descriptors' coordinates in the span of the training
            rows (``linear.RowSpace``, with the linear SVM's dual solver): the same L2-regularised solution (the
            weights of such a model lie in that span), several times faster where the descriptor has many more
            dimensions than there are training clips (LBP-TOP's 4425 for ~430 clips: the default there).
    """

    NAME: ClassVar[str] = ""

    method: str = ""
    classifier: str = "linear_svm"
    c: float = 0.0
    c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    inner_folds: int = 4
    row_space: bool = False

    def __post_init__(self):
        object.__setattr__(self, "c_grid", tuple(float(c) for c in self.c_grid))
        if self.method != self.NAME:
            raise ValueError(f"{type(self).__name__}.method must be {self.NAME!r}; got {self.method!r}")
        check_head(self)

    @classmethod
    def from_dict(cls, values: dict) -> DescriptorConfig:
        return from_dict(cls, values, cls.__name__, "parameters")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def block_index(length: int, blocks: int) -> np.ndarray:
    """(length,) int64: the block (0 .. blocks - 1) of each coordinate when ``length`` pixels are split into
    ``blocks`` contiguous, near-equal parts (sizes differ by at most one pixel)."""
    if not 1 <= blocks <= length:
        raise ValueError(f"a block grid of {blocks} per side needs 1 <= blocks <= {length} (the side in pixels)")
    return (np.arange(length) * blocks) // length


def block_grid(length: int, blocks: int) -> np.ndarray:
    """(length * length,) int64: the block of every pixel of a ``length`` x ``length`` image (row-major),
    ``blocks`` x ``blocks`` blocks numbered row-major."""
    index = block_index(length, blocks)
    return (index[:, None] * blocks + index[None, :]).ravel()


def normalise_rows(hist: np.ndarray) -> np.ndarray:
    """``hist`` (..., K) scaled so that each histogram sums to 1; an all-zero histogram stays zero."""
    total = hist.sum(axis=-1, keepdims=True)
    return np.divide(hist, total, out=np.zeros_like(hist), where=total > 0)
