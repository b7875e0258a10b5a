"""Linear methods on fixed descriptors: standardise, then logistic regression or a linear SVM (sklearn pipelines).

The linear probe (``method="linear_probe"``) is the first of them: the masked (u, v) flow area-pooled to a
``pool`` x ``pool`` grid. It is the floor every learned model must beat: a network that loses to it has learned
nothing a linear map of the same features does not already give.

C is fixed (``c > 0``) or chosen on the TRAINING subjects only (``c = 0``): a grouped K-fold over training
subjects scored by balanced accuracy (= UAR), then a refit on all training subjects.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mer_ray.data import FeatureSet
from mer_ray.folds import FoldResult, fold_rows
from preprocessing.features.shards import FLOW_CHANNELS
from preprocessing.validation import from_dict

LINEAR_CLASSIFIERS = ("logreg", "linear_svm")


@dataclass(frozen=True)
class LinearConfig:
    """A descriptor and a linear classifier on it.

    Attributes:
        method: the descriptor's method name (``"linear_probe"``: pooled flow).
        pool: side of the grid the flow is area-pooled to (16: 14-px cells of a 224-px face).
        channels: flow channels used (names of ``FLOW_CHANNELS``).
        apply_mask: multiply the flow by the stored eye / background mask first.
        classifier: ``"logreg"`` (multinomial logistic regression) or ``"linear_svm"`` (one-vs-rest hinge).
        c: inverse regularisation; 0 = chosen on the training subjects from ``c_grid``.
        c_grid: candidates of the inner choice.
        inner_folds: grouped folds (of training subjects) of the inner choice.
    """

    method: str = "linear_probe"
    pool: int = 16
    channels: tuple[str, ...] = ("u", "v")
    apply_mask: bool = True
    classifier: str = "logreg"
    c: float = 0.0
    c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    inner_folds: int = 4

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "c_grid", tuple(float(c) for c in self.c_grid))
        if self.method not in DESCRIPTORS:
            raise ValueError(f"method must be one of {sorted(DESCRIPTORS)}; got {self.method!r}")
        if self.classifier not in LINEAR_CLASSIFIERS:
            raise ValueError(f"classifier must be one of {list(LINEAR_CLASSIFIERS)}; got {self.classifier!r}")
        unknown = [c for c in self.channels if c not in FLOW_CHANNELS]
        if unknown or not self.channels:
            raise ValueError(f"channels must be a non-empty subset of {list(FLOW_CHANNELS)}; got {list(self.channels)}")
        if self.pool < 1:
            raise ValueError(f"pool must be >= 1; got {self.pool}")
        if self.c < 0 or (self.c == 0 and not self.c_grid) or any(c <= 0 for c in self.c_grid):
            raise ValueError(f"c must be > 0, or 0 with a grid of positive values; got c={self.c}, "
                             f"c_grid={list(self.c_grid)}")
        if self.inner_folds < 2:
            raise ValueError(f"inner_folds must be >= 2; got {self.inner_folds}")

    @classmethod
    def from_dict(cls, values: dict) -> LinearConfig:
        return from_dict(cls, values, "LinearConfig", "parameters")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def pooled_flow(config: LinearConfig, data: FeatureSet, rows: np.ndarray, chunk: int = 64) -> np.ndarray:
    """(N, len(channels) * pool * pool) float32: the masked flow channels area-pooled to ``pool`` x ``pool``."""
    index = [FLOW_CHANNELS.index(c) for c in config.channels]
    size = data.size
    if size % config.pool:
        raise ValueError(f"pool={config.pool} must divide the stored face size {size}")
    cell = size // config.pool
    out = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        x = data.flow[np.ix_(part, index)].astype(np.float32)  # (B, C, S, S)
        if config.apply_mask:
            x = x * data.mask[part][:, None].astype(np.float32)
        x = x.reshape(len(part), len(index), config.pool, cell, config.pool, cell).mean(axis=(3, 5))
        out.append(x.reshape(len(part), -1))
    return np.concatenate(out) if out else np.zeros((0, len(index) * config.pool**2), np.float32)


DESCRIPTORS: dict[str, Callable[[LinearConfig, FeatureSet, np.ndarray], np.ndarray]] = {
    "linear_probe": pooled_flow,
}


def _estimator(config: LinearConfig, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if config.classifier == "logreg":
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    else:
        model = LinearSVC(C=c, class_weight="balanced", max_iter=20000)
    return make_pipeline(StandardScaler(), model)


def fit_linear(config: LinearConfig, x: np.ndarray, y: np.ndarray, groups: np.ndarray):
    """The fitted pipeline; with ``c = 0``, C is chosen by a grouped K-fold over the given (training) subjects."""
    if config.c > 0:
        return _estimator(config, config.c).fit(x, y)
    from sklearn.model_selection import GridSearchCV, GroupKFold

    k = min(config.inner_folds, len(np.unique(groups)))
    if k < 2:
        return _estimator(config, config.c_grid[len(config.c_grid) // 2]).fit(x, y)
    step = _estimator(config, 1.0).steps[-1][0]
    search = GridSearchCV(_estimator(config, 1.0), {f"{step}__C": list(config.c_grid)}, cv=GroupKFold(k),
                          scoring="balanced_accuracy", refit=True)
    with warnings.catch_warnings():  # an inner fold missing a class is expected with few subjects
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return search.fit(x, y, groups=groups).best_estimator_


def fit_predict(config: LinearConfig, data: FeatureSet, held_out: Sequence[str], seed: int, *,
                exclude_subjects: Sequence[str] = (), device: str | None = None,
                log: Callable[[str], None] | None = None) -> FoldResult:
    """Fit on the fold's training subjects, predict its held-out ones (a ``mer_ray.methods`` fold function)."""
    from mer_ray.classifiers import decision_scores

    start = time.monotonic()
    train_rows, test_rows = fold_rows(data, held_out, exclude_subjects)
    describe = DESCRIPTORS[config.method]
    x_train, x_test = describe(config, data, train_rows), describe(config, data, test_rows)
    subjects = data.meta["subject"].to_numpy()
    estimator = fit_linear(config, x_train, data.labels[train_rows], subjects[train_rows])
    return FoldResult(
        subject="+".join(held_out),
        sample_ids=data.meta["sample_id"].iloc[test_rows].tolist(),
        y_pred=estimator.predict(x_test).astype(np.int64),
        scores=decision_scores(estimator, x_test),
        train_ids=data.meta["sample_id"].iloc[train_rows].tolist(),
        epochs=0,
        seconds=time.monotonic() - start,
    )
