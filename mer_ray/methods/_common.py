"""What the descriptor methods share: the linear classifier's settings and the spatial block grid."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from mer_ray.infra.validation import check_fields, check_known_keys, from_dict, setting

LINEAR_CLASSIFIERS = ("logreg", "linear_svm")
HEAD_FIELDS = ("classifier", "c", "c_grid", "inner_folds", "row_space")  # the classifier half; the rest: descriptor


def check_head(config: Any) -> None:
    """The check across the classifier fields of a linear method's configuration (``HEAD_FIELDS``), after
    :func:`check_fields` has checked each field's type and range (declared with the field: :func:`setting`)."""
    if config.c == 0 and not config.c_grid:
        raise ValueError(f"c={config.c!r}: expected a number > 0, or 0 with a non-empty c_grid of numbers > 0 "
                         f"(c_grid={list(config.c_grid)!r})")


class KnownKeys:
    """Mixin of a configuration dataclass: an unknown keyword at construction is a ``ValueError`` naming it and
    listing the valid ones (``HoofConfig: unknown parameters ['bin']; valid parameters: [...]``), the message of
    ``from_dict``, instead of Python's ``TypeError: __init__() got an unexpected keyword argument``."""

    def __new__(cls, *args: Any, **kwargs: Any):
        check_known_keys(cls.__name__, kwargs, [f.name for f in fields(cls) if f.init], "parameters")
        return super().__new__(cls)


@dataclass(frozen=True)
class DescriptorConfig(KnownKeys):
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

    Every field has a type (its annotation) and a range or choices (:func:`setting`), checked at construction by
    :func:`check_fields` (subclasses' fields included): a refused value raises one ``ValueError`` line naming the
    key, the value and what was expected, e.g. ``bins=1: expected an integer >= 2``. A subclass declares ``method``
    as ``setting(NAME, choices=(NAME,))`` and its own fields' ranges the same way; its ``__post_init__`` (if any)
    calls ``super().__post_init__()`` first.
    """

    NAME: ClassVar[str] = ""

    method: str = ""
    classifier: str = setting("linear_svm", choices=LINEAR_CLASSIFIERS)
    c: float = setting(0.0, ge=0)
    c_grid: tuple[float, ...] = setting((0.001, 0.01, 0.1, 1.0), gt=0)
    inner_folds: int = setting(4, ge=2)
    row_space: bool = False

    def __post_init__(self):
        check_fields(self)  # every field's type and range, this class's and the subclass's
        object.__setattr__(self, "c_grid", tuple(float(c) for c in self.c_grid))
        if self.method != self.NAME:
            raise ValueError(f"method={self.method!r}: expected {self.NAME!r} ({type(self).__name__})")
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
