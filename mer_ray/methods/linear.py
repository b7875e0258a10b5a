"""Linear methods on fixed descriptors: standardise, then logistic regression or a linear SVM (sklearn pipelines).

The linear probe (``method="linear_probe"``) is the first of them: the masked (u, v) flow area-pooled to a
``pool`` x ``pool`` grid. It is the floor every learned model must beat: a network that loses to it has learned
nothing a linear map of the same features does not already give. The hand-crafted baselines are the others, each a
descriptor (:data:`DESCRIPTORS`) with its own configuration class: HOOF (:mod:`mer_ray.methods.hoof`), MDMO
(:mod:`mer_ray.methods.mdmo`), LBP-TOP (:mod:`mer_ray.methods.lbptop`).

C is fixed (``c > 0``) or chosen on the TRAINING subjects only (``c = 0``): a grouped K-fold over training
subjects scored by balanced accuracy (= UAR), then a refit on all training subjects.

A descriptor is a function of one clip's own arrays (no statistic over clips, no label), so it is computed once for
every clip of a feature set and kept for the next folds of the same process (:func:`describe`); the
standardisation, which does pool clips, is fitted on each fold's training rows inside the pipeline.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from mer_ray.data.features import OPTIONAL_ARRAYS, FeatureSet
from mer_ray.evaluation.folds import FoldResult, fold_rows
from mer_ray.infra.validation import check_fields, from_dict, setting
from mer_ray.methods import hoof, lbptop, mdmo
from mer_ray.methods._common import HEAD_FIELDS, LINEAR_CLASSIFIERS, DescriptorConfig, KnownKeys, check_head
from preprocessing.features.shard_schema import FLOW_CHANNELS

__all__ = ["DESCRIPTORS", "LINEAR_CLASSIFIERS", "LinearConfig", "describe", "fit_linear", "fit_predict",
           "pooled_flow"]


PROBES = ("linear_probe",)  # the methods LinearConfig describes


@dataclass(frozen=True)
class LinearConfig(KnownKeys):
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

    Every field's type (its annotation) and range or choices (:func:`setting`) are checked at construction
    (:func:`check_fields`): a refused value is one ``ValueError`` line naming the key, the value and what was
    expected, e.g. ``pool=0: expected an integer >= 1``.
    """

    method: str = setting("linear_probe", choices=PROBES)
    pool: int = setting(16, ge=1)
    channels: tuple[str, ...] = setting(("u", "v"), choices=FLOW_CHANNELS)
    apply_mask: bool = True
    classifier: str = setting("logreg", choices=LINEAR_CLASSIFIERS)
    c: float = setting(0.0, ge=0)
    c_grid: tuple[float, ...] = setting((0.001, 0.01, 0.1, 1.0), gt=0)
    inner_folds: int = setting(4, ge=2)

    def __post_init__(self):
        check_fields(self)  # each field's type and range; then across fields:
        object.__setattr__(self, "c_grid", tuple(float(c) for c in self.c_grid))
        if not self.channels:
            raise ValueError(f"channels=[]: expected a non-empty list of values, each one of {list(FLOW_CHANNELS)}")
        check_head(self)

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


# method -> descriptor: (config, data, rows) -> (len(rows), D) float32, a function of each row's own arrays only
DESCRIPTORS: dict[str, Callable[[Any, FeatureSet, np.ndarray], np.ndarray]] = {
    "linear_probe": pooled_flow,
    "hoof": hoof.hoof,
    "mdmo": mdmo.mdmo,
    "lbptop": lbptop.lbp_top,
}

CACHE_ENTRIES = 4  # descriptor matrices kept per process (one per feature set and descriptor setting)
_cache: OrderedDict[tuple, tuple[list[np.ndarray | None], np.ndarray]] = OrderedDict()


def _array_key(array: np.ndarray | None) -> tuple | None:
    if array is None:
        return None
    return (array.__array_interface__["data"][0], array.shape, array.strides, array.dtype.str)


def describe(config: LinearConfig | DescriptorConfig, data: FeatureSet) -> np.ndarray:
    """(len(data), D) float32, read-only: the descriptor of every clip of ``data``, computed once per process.

    The cache key is the descriptor's settings (the configuration without its classifier fields) and the identity
    of the input arrays (their memory, shape and layout): a fold process of Ray Tune maps the same object-store
    arrays fold after fold, and ``with_masked_labels`` shares them, so later folds reuse the matrix. The entry holds
    the arrays, so that memory cannot be reused by other arrays while it is cached; arrays are treated as read-only
    (as the object store's are): a set whose arrays changed in place must be rebuilt, not edited. Labels play no
    part: the matrix of a clip is the same whichever fold asks.
    """
    settings = json.dumps({k: v for k, v in config.to_dict().items() if k not in HEAD_FIELDS}, sort_keys=True)
    arrays = [data.flow, data.mask, *(getattr(data, name) for name in OPTIONAL_ARRAYS)]
    key = (settings, *(_array_key(a) for a in arrays))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key][1]
    x = DESCRIPTORS[config.method](config, data, np.arange(len(data)))
    x.setflags(write=False)
    _cache[key] = (arrays, x)
    while len(_cache) > CACHE_ENTRIES:
        _cache.popitem(last=False)
    return x


class RowSpace(TransformerMixin, BaseEstimator):
    """sklearn transformer: coordinates in an orthonormal basis of the span of the rows it was fitted on.

    For an L2-regularised linear model the optimal weights lie in the span of its training rows (representer
    theorem), so fitting it on these coordinates gives the same decision function on any input, with at most N
    columns instead of D. Computed from the (N, N) Gram matrix: the training rows' coordinates are
    ``U sqrt(L)`` (``X X^T = U L U^T``), another row ``x``'s are ``(x X^T) U / sqrt(L)``. Identity when the
    rows have no more columns than there are rows.
    """

    def fit(self, x, y=None):
        self.fit_transform(x)
        return self

    def fit_transform(self, x, y=None):
        x = np.asarray(x, dtype=np.float64)
        self.rows_ = None
        if x.shape[1] <= x.shape[0]:
            return x
        values, vectors = np.linalg.eigh(x @ x.T)
        keep = values > values.max() * 1e-10  # standardised rows are centred: rank <= N - 1
        scale = np.sqrt(values[keep])
        self.rows_, self.map_ = x, vectors[:, keep] / scale  # (N, D) training rows, (N, rank)
        return vectors[:, keep] * scale  # (N, rank) = x @ basis

    def transform(self, x):
        if self.rows_ is None:
            return x
        return (np.asarray(x, dtype=np.float64) @ self.rows_.T) @ self.map_


def _estimator(config: LinearConfig | DescriptorConfig, c: float, seed: int = 0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    row_space = getattr(config, "row_space", False)  # descriptor methods; the probe keeps its plain pipeline
    if config.classifier == "logreg":
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    else:  # random_state: the dual solver shuffles. In the row space the data are nearly separable and the primal
        # solver (sklearn's "auto" choice for more rows than columns) needs thousands of iterations at C = 1: dual
        model = LinearSVC(C=c, class_weight="balanced", max_iter=20000, random_state=seed,
                          **({"dual": True} if row_space else {}))
    return make_pipeline(StandardScaler(), *([RowSpace()] if row_space else []), model)


def fit_linear(config: LinearConfig | DescriptorConfig, x: np.ndarray, y: np.ndarray, groups: np.ndarray,
               seed: int = 0, scoring: str = "balanced_accuracy"):
    """The fitted pipeline; with ``c = 0``, C is chosen by a grouped K-fold over the given (training) subjects.

    ``seed`` seeds the linear SVM's coordinate-descent order (logistic regression's solver is deterministic);
    ``scoring``: the inner choice's sklearn scorer (balanced accuracy = UAR; an AU's detector: ``"f1_macro"``).
    """
    if config.c > 0:
        return _estimator(config, config.c, seed).fit(x, y)
    from sklearn.model_selection import GridSearchCV, GroupKFold

    k = min(config.inner_folds, len(np.unique(groups)))
    if k < 2:
        return _estimator(config, config.c_grid[len(config.c_grid) // 2], seed).fit(x, y)
    step = _estimator(config, 1.0).steps[-1][0]
    # an AU absent from an inner split's training part: that split's fits fail for every C alike and score 0
    robust = {} if scoring == "balanced_accuracy" else {"error_score": 0.0}
    search = GridSearchCV(_estimator(config, 1.0, seed), {f"{step}__C": list(config.c_grid)}, cv=GroupKFold(k),
                          scoring=scoring, refit=True, **robust)
    with warnings.catch_warnings():  # an inner fold missing a class is expected with few subjects
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        if robust:
            from sklearn.exceptions import FitFailedWarning, UndefinedMetricWarning

            warnings.filterwarnings("ignore", category=FitFailedWarning)
            warnings.filterwarnings("ignore", category=UndefinedMetricWarning)
        return search.fit(x, y, groups=groups).best_estimator_


def present_probability(estimator, x: np.ndarray) -> np.ndarray:
    """(N,) float64 score of the positive class of a fitted binary pipeline: logistic regression's probability, or
    the logistic function of a linear SVM's margin (0.5 on its decision boundary, so ``> 0.5`` is its prediction)."""
    if hasattr(estimator, "predict_proba"):
        try:
            return estimator.predict_proba(x)[:, list(estimator.classes_).index(1)]
        except AttributeError:  # a pipeline whose last step has no probabilities (LinearSVC)
            pass
    margin = np.asarray(estimator.decision_function(x), dtype=np.float64).reshape(len(x))
    return 1.0 / (1.0 + np.exp(-margin))


def fit_predict_au(config: LinearConfig | DescriptorConfig, data: FeatureSet, held_out: Sequence[str], seed: int,
                   au, *, exclude_subjects: Sequence[str] = ()) -> FoldResult:
    """AU detection with a linear method: one binary classifier per AU (one-vs-rest), each with its own C chosen
    on the training subjects (macro F1 of present / absent), on the same descriptor; an AU with too few training
    positives is skipped (:func:`mer_ray.evaluation.au_task.fold_targets`)."""
    from mer_ray.evaluation.au_task import decide, fold_targets

    start = time.monotonic()
    train_rows, test_rows = fold_rows(data, held_out, exclude_subjects)
    hidden = np.flatnonzero(data.meta["subject"].isin([*held_out, *exclude_subjects]).to_numpy())
    targets = fold_targets(au, data.meta, train_rows, hidden)
    x = describe(config, data)
    x_train, x_test = x[targets.rows], x[test_rows]
    groups = data.meta["subject"].to_numpy()[targets.rows]
    probabilities = np.full((len(test_rows), len(au.aus)), np.nan)
    for k in np.flatnonzero(targets.active):
        estimator = fit_linear(config, x_train, targets.y[:, k].astype(np.int64), groups, seed, scoring="f1_macro")
        probabilities[:, k] = present_probability(estimator, x_test)
    y_pred, scores = decide(probabilities, targets.active)
    return FoldResult(
        subject="+".join(held_out),
        sample_ids=data.meta["sample_id"].iloc[test_rows].tolist(),
        y_pred=y_pred,
        scores=scores,
        train_ids=data.meta["sample_id"].iloc[targets.rows].tolist(),
        epochs=0,
        seconds=time.monotonic() - start,
        details={"au": targets.record()},
    )


def fit_predict(config: LinearConfig | DescriptorConfig, data: FeatureSet, held_out: Sequence[str], seed: int, *,
                exclude_subjects: Sequence[str] = (), device: str | None = None,
                log: Callable[[str], None] | None = None, au=None) -> FoldResult:
    """Fit on the fold's training subjects, predict its held-out ones (a ``mer_ray.methods`` fold function).

    ``config`` is a :class:`LinearConfig` or a descriptor method's configuration (``mer_ray.methods._common``);
    ``au``: the AU detection task (:class:`~mer_ray.evaluation.au_task.AuTask`; :func:`fit_predict_au`).
    """
    from mer_ray.training.classifiers import decision_scores

    if au is not None:
        return fit_predict_au(config, data, held_out, seed, au, exclude_subjects=exclude_subjects)
    start = time.monotonic()
    train_rows, test_rows = fold_rows(data, held_out, exclude_subjects)
    x = describe(config, data)
    x_train, x_test = x[train_rows], x[test_rows]
    subjects = data.meta["subject"].to_numpy()
    estimator = fit_linear(config, x_train, data.labels[train_rows], subjects[train_rows], seed)
    return FoldResult(
        subject="+".join(held_out),
        sample_ids=data.meta["sample_id"].iloc[test_rows].tolist(),
        y_pred=estimator.predict(x_test).astype(np.int64),
        scores=decision_scores(estimator, x_test),
        train_ids=data.meta["sample_id"].iloc[train_rows].tolist(),
        epochs=0,
        seconds=time.monotonic() - start,
    )
