"""A portfolio: several member recipes combined with weights fitted on the TRAINING subjects of each outer fold.

The adaptive recipe of issue 24: no data-dependent choice is fixed in advance. Per outer fold (``fit_predict``):

1. the training subjects are split into ``inner_folds`` subject-wise groups (:func:`mer_ray.evaluation.folds.
   inner_folds`); each member (a complete configuration of another method: the linear probe, a network...) is
   trained on all groups but one and predicts that one, so every training clip gets an out-of-fold (OOF) score
   from every member. Inside these inner folds a member may run a cheaper variant (``inner_settings``: e.g. one
   network instead of an ensemble of five);
2. the combination is fitted on those OOF scores and the training labels only (:func:`fit_combination`):
   ``"weights"`` (default) calibrates each member by a temperature and picks non-negative weights summing to 1 on
   a simplex grid, minimising the class-balanced log-loss (or maximising UAR) of the weighted mean of calibrated
   probabilities; ``"select"`` keeps the single best member; ``"stack"`` fits a multinomial logistic regression on
   the members' concatenated log-probabilities, its C chosen by a grouped K-fold over the training subjects;
3. every member is trained on all training subjects and predicts the held-out subject(s); the fitted combination
   turns their scores into the fold's scores. A ``crossfit`` member is not trained again: its inner-fold models
   (each trained on all training groups but one) also predict the held-out subject(s), and their mean is its
   held-out score (cross-fitting, a cross-validation ensemble: the OOF scores come at no extra training cost).

Honest by construction: the held-out (and excluded) subjects' labels arrive masked (``run_task``), every inner fold
masks its own group on top, and every member fit goes through its method's ``fit_predict``, which checks the masks
(``fold_rows``). Nothing of the held-out subject but its inputs reaches a member's final ``predict``.

Scores to probabilities, the same for every member: a member's scores are already probabilities where its method
returns softmax outputs (a network with its softmax or hinge head: rows of non-negative values summing to 1); any
other score (the probe's logistic-regression decision values, an SVM's margins) goes through a softmax, which for
a multinomial logistic regression is exactly its ``predict_proba``.

The fold's ``FoldResult.details`` records the combination (weights, temperatures, inner scores) and each member's
held-out probabilities, so a report can show every member's pooled row beside the combination
(:func:`mer_ray.evaluation.parts.portfolio_section`).
"""

from __future__ import annotations

import hashlib
import itertools
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mer_ray.data.features import FeatureSet
from mer_ray.evaluation.folds import FoldResult, fold_rows, inner_folds
from mer_ray.infra.validation import check_fields, from_dict, setting

COMBINERS = ("weights", "select", "stack")
OBJECTIVES = ("log_loss", "uar")
TEMPERATURES = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0)  # calibration grid
EPS = 1e-6  # probability floor before logs


@dataclass(frozen=True)
class PortfolioConfig:
    """Members, inner folds and combination rule of a portfolio.

    Attributes:
        method: ``"portfolio"``.
        members: the members combined, names of ``recipes`` (order = the order of weights in the records).
        recipes: member name -> the member's complete configuration dict (any method but a portfolio).
        inner_settings: member name -> settings laid over its recipe inside the inner folds only (a cheaper
            variant: ``{"shufflenet": {"ensemble": 1}}``); keys the member's method has no field for are ignored.
        inner_folds: subject-wise folds of the training subjects that give the out-of-fold scores (>= 2).
        combiner: ``"weights"`` (simplex-grid weights on calibrated probabilities), ``"select"`` (the best single
            member) or ``"stack"`` (logistic regression on the members' log-probabilities).
        objective: what ``"weights"`` / ``"select"`` optimise on the OOF scores: ``"log_loss"`` (class-balanced)
            or ``"uar"`` (ties broken by log-loss).
        weight_step: resolution of the weight simplex grid (1 / weight_step must be a whole number).
        calibrate: fit a temperature per member on its OOF scores before combining (``"weights"`` / ``"select"``).
        stack_c_grid: candidates of the stacker's C (``"stack"``), chosen by grouped K-fold on the OOF rows.
        record_inner: also record the out-of-fold probabilities of the training clips in ``FoldResult.details``
            (``inner_ids``, ``inner_scores``: to compare combination rules offline on the same members).
        crossfit: members whose held-out scores are the mean of their ``inner_folds`` inner-fold models' scores
            instead of a final fit on all training subjects (an ensemble of ``inner_folds`` models, each trained
            on (inner_folds - 1) / inner_folds of the training subjects; no extra training).
    """

    method: str = setting("portfolio", choices=("portfolio",))
    members: tuple[str, ...] = ("probe", "sssnet", "shufflenet")
    recipes: dict[str, dict[str, Any]] = field(default_factory=dict)
    inner_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    inner_folds: int = setting(3, ge=2)
    combiner: str = setting("weights", choices=COMBINERS)
    objective: str = setting("log_loss", choices=OBJECTIVES)
    weight_step: float = setting(0.1, gt=0, le=1)
    calibrate: bool = True
    stack_c_grid: tuple[float, ...] = setting((0.01, 0.1, 1.0, 10.0), gt=0)
    record_inner: bool = False
    crossfit: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "members", tuple(self.members))
        object.__setattr__(self, "crossfit", tuple(self.crossfit))
        object.__setattr__(self, "stack_c_grid", tuple(float(c) for c in self.stack_c_grid))
        check_fields(self)
        if not self.members:
            raise ValueError("members: expected at least one member")
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"members must be distinct; got {list(self.members)}")
        missing = [m for m in self.members if m not in self.recipes]
        if missing:
            raise ValueError(f"members {missing} have no recipe; recipes: {sorted(self.recipes)}")
        for key in ("inner_settings", "crossfit"):
            unknown = sorted(set(getattr(self, key)) - set(self.members))
            if unknown:
                raise ValueError(f"{key} names {unknown}, which are not members {list(self.members)}")
        steps = 1.0 / self.weight_step
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(f"weight_step={self.weight_step}: 1 / weight_step must be a whole number")
        for name in self.members:  # each member's configuration is checked now, not in the first fold
            if self.recipes[name].get("method") == "portfolio":
                raise ValueError(f"member {name!r}: a portfolio cannot be a member of a portfolio")
            for inner in (False, True):
                try:
                    self.member_config(name, inner=inner)
                except ValueError as error:
                    raise ValueError(f"member {name!r}{' (inner folds)' if inner else ''}: {error}") from None

    @classmethod
    def from_dict(cls, values: dict) -> PortfolioConfig:
        return from_dict(cls, values, "PortfolioConfig", "parameters")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def member_config(self, name: str, *, inner: bool) -> Any:
        """The typed configuration of member ``name`` (its inner-fold variant when ``inner``)."""
        from mer_ray.methods import applicable, parse_config

        params = dict(self.recipes[name])
        if inner and name in self.inner_settings:
            params.update(applicable(params, dict(self.inner_settings[name])))
        return parse_config(params)


# ---- scores -> probabilities ------------------------------------------------------------------------------------


def probabilities(scores: np.ndarray) -> np.ndarray:
    """(N, C) float64 probabilities of a member's scores: kept where every row already is a probability vector
    (softmax outputs), else the softmax of the scores (decision values, margins)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) and np.all(s >= 0) and np.allclose(s.sum(axis=1), 1.0, atol=1e-4):
        p = s
    else:
        z = s - s.max(axis=1, keepdims=True)
        p = np.exp(z)
    p = np.clip(p, EPS, None)
    return p / p.sum(axis=1, keepdims=True)


def temper(p: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``p`` recalibrated by a temperature (softmax of log p / T)."""
    z = np.log(np.clip(p, EPS, None)) / temperature
    z -= z.max(axis=1, keepdims=True)
    q = np.exp(z)
    return q / q.sum(axis=1, keepdims=True)


def balanced_log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean over the classes present of each class's mean negative log-probability of its true label (the log-loss
    of a class-balanced sample: the combination is judged the way UAR weighs the classes)."""
    nll = -np.log(np.clip(p[np.arange(len(y)), y], EPS, None))
    return float(np.mean([nll[y == c].mean() for c in np.unique(y)]))


def _uar(p: np.ndarray, y: np.ndarray) -> float:
    pred = p.argmax(axis=1)
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def simplex_grid(members: int, step: float) -> np.ndarray:
    """(P, members) every weight vector with entries multiple of ``step`` summing to 1 (vertices first)."""
    n = round(1.0 / step)
    points = [c for c in itertools.product(range(n + 1), repeat=members) if sum(c) == n]
    points.sort(key=lambda c: (-max(c), [-v for v in c]))  # deterministic: pure members first, then mixtures
    return np.asarray(points, dtype=np.float64) / n


# ---- the combination --------------------------------------------------------------------------------------------


@dataclass
class Combination:
    """A fitted combination of member probabilities (:func:`fit_combination`)."""

    combiner: str
    members: tuple[str, ...]
    weights: np.ndarray  # (M,) the members' weights ("stack": the norm share of each member's coefficients)
    temperatures: np.ndarray  # (M,)
    inner: dict[str, Any] = field(default_factory=dict)  # OOF figures: each member's and the combination's
    stacker: Any = None  # "stack": the fitted logistic regression

    def __call__(self, probs: Sequence[np.ndarray]) -> np.ndarray:
        """(N, C) combined probabilities of the members' (N, C) probabilities (in ``members`` order)."""
        calibrated = [temper(p, t) for p, t in zip(probs, self.temperatures)]
        if self.combiner == "stack":
            x = np.concatenate([np.log(np.clip(p, EPS, None)) for p in calibrated], axis=1)
            out = np.zeros((len(x), calibrated[0].shape[1]))
            out[:, self.stacker.classes_] = self.stacker.predict_proba(x)
            return out
        return sum(w * p for w, p in zip(self.weights, calibrated))

    def record(self) -> dict[str, Any]:
        return {"combiner": self.combiner, "members": list(self.members),
                "weights": {m: float(w) for m, w in zip(self.members, self.weights)},
                "temperatures": {m: float(t) for m, t in zip(self.members, self.temperatures)},
                "inner": self.inner}


def fit_combination(config: PortfolioConfig, probs: Sequence[np.ndarray], y: np.ndarray,
                    groups: np.ndarray) -> Combination:
    """Fit the combination of the members' out-of-fold probabilities ``probs`` (each (N, C)) to the TRAINING labels
    ``y`` (N,); ``groups``: each row's subject (the stacker's grouped choice of C)."""
    members = tuple(config.members)
    m = len(members)
    temperatures = np.ones(m)
    if config.calibrate and config.combiner != "stack":
        temperatures = np.array([min(TEMPERATURES, key=lambda t: (balanced_log_loss(temper(p, t), y), abs(t - 1)))
                                 for p in probs])
    calibrated = [temper(p, t) for p, t in zip(probs, temperatures)]
    inner = {"members": {name: {"log_loss": balanced_log_loss(p, y), "uar": _uar(p, y)}
                         for name, p in zip(members, calibrated)}}
    if config.combiner == "stack":
        return _fit_stack(config, calibrated, y, groups, temperatures, inner)
    grid = np.eye(m) if config.combiner == "select" else simplex_grid(m, config.weight_step)
    stacked = np.stack(calibrated)  # (M, N, C)
    best, best_key = None, None
    for w in grid:
        p = np.tensordot(w, stacked, axes=1)
        loss = balanced_log_loss(p, y)
        key = (loss,) if config.objective == "log_loss" else (-_uar(p, y), loss)
        if best_key is None or key < tuple(k - 1e-12 for k in best_key):  # strictly better: the first point wins ties
            best, best_key = w, key
    p = np.tensordot(best, stacked, axes=1)
    inner["combination"] = {"log_loss": balanced_log_loss(p, y), "uar": _uar(p, y)}
    return Combination(config.combiner, members, best.copy(), temperatures, inner)


def _fit_stack(config: PortfolioConfig, calibrated: list[np.ndarray], y: np.ndarray, groups: np.ndarray,
               temperatures: np.ndarray, inner: dict) -> Combination:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, GroupKFold

    x = np.concatenate([np.log(np.clip(p, EPS, None)) for p in calibrated], axis=1)
    model = LogisticRegression(class_weight="balanced", max_iter=2000)
    k = min(config.inner_folds, len(np.unique(groups)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        search = GridSearchCV(model, {"C": list(config.stack_c_grid)}, cv=GroupKFold(k), scoring="neg_log_loss",
                              refit=True).fit(x, y, groups=groups)
    stacker = search.best_estimator_
    c = calibrated[0].shape[1]
    norms = np.array([np.abs(stacker.coef_[:, i * c:(i + 1) * c]).sum() for i in range(len(calibrated))])
    weights = norms / norms.sum() if norms.sum() > 0 else np.full(len(calibrated), 1 / len(calibrated))
    comb = Combination("stack", tuple(config.members), weights, temperatures, inner, stacker)
    p = comb(calibrated)
    inner["combination"] = {"log_loss": balanced_log_loss(p, y), "uar": _uar(p, y), "c": float(stacker.C)}
    return comb


# ---- AU detection: per-AU probabilities of presence ------------------------------------------------------------


def au_probabilities(scores: np.ndarray) -> np.ndarray:
    """(N, K) float64 probabilities of presence of a member's AU scores (already probabilities: a network's
    sigmoids, the probe's ``predict_proba``), floored away from 0 and 1; NaN (an AU skipped) stays NaN."""
    return np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS)


def temper_binary(p: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities of presence recalibrated by a temperature (sigmoid of logit(p) / T); NaN stays NaN."""
    q = np.clip(p, EPS, 1 - EPS)
    return 1.0 / (1.0 + np.exp(-np.log(q / (1 - q)) / temperature))


def balanced_bce(p: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    """Mean over the AUs (columns) with both classes among the ``mask``-ed entries of the class-balanced binary
    cross-entropy: the mean of the positives' and the negatives' mean negative log-probability (the binary
    counterpart of :func:`balanced_log_loss`)."""
    q = np.clip(np.where(mask, p, 0.5), EPS, 1 - EPS)
    nll = -np.where(y == 1, np.log(q), np.log(1 - q))
    losses = []
    for k in range(y.shape[1]):
        pos, neg = mask[:, k] & (y[:, k] == 1), mask[:, k] & (y[:, k] == 0)
        if pos.any() and neg.any():
            losses.append((nll[pos, k].mean() + nll[neg, k].mean()) / 2)
    return float(np.mean(losses)) if losses else float("nan")


def _au_f1(p: np.ndarray, y: np.ndarray, mask: np.ndarray) -> float:
    from mer_ray.evaluation.au_task import SKIPPED, pooled

    y_pred = np.where(mask, (np.nan_to_num(p) > 0.5).astype(np.int64), SKIPPED)
    return float(np.nan_to_num(pooled(y.astype(np.int64), y_pred)["f1_macro"]))


@dataclass
class AuCombination:
    """A fitted combination of the members' per-AU probabilities (:func:`fit_au_combination`): one temperature per
    member and one weight per member, shared by the AUs (fitted on all of them together: steadier than per AU on a
    few hundred clips)."""

    combiner: str
    members: tuple[str, ...]
    weights: np.ndarray
    temperatures: np.ndarray
    inner: dict[str, Any] = field(default_factory=dict)

    def __call__(self, probs: Sequence[np.ndarray]) -> np.ndarray:
        return sum(w * temper_binary(p, t) for w, p, t in zip(self.weights, probs, self.temperatures))

    def record(self) -> dict[str, Any]:
        return Combination.record(self)  # type: ignore[arg-type]


def fit_au_combination(config: PortfolioConfig, probs: Sequence[np.ndarray], y: np.ndarray) -> AuCombination:
    """Fit temperatures and weights to the members' out-of-fold AU probabilities ``probs`` (each (N, K), NaN where
    an inner fold skipped the AU) and the TRAINING clips' AU presence ``y`` (N, K): the class-balanced binary
    cross-entropy (``objective="log_loss"``) or the mean macro F1 at 0.5 (``"uar"``, ties by the loss) of the
    weighted mean, over the entries every member scored.

    Raises:
        ValueError: ``combiner="stack"`` (no AU form).
    """
    if config.combiner == "stack":
        raise ValueError("--task au: the portfolio's 'stack' combiner has no AU form; use 'weights' or 'select'")
    members = tuple(config.members)
    mask = np.all([~np.isnan(p) for p in probs], axis=0)
    temperatures = np.ones(len(members))
    if config.calibrate:
        temperatures = np.array([min(TEMPERATURES, key=lambda t: (balanced_bce(temper_binary(p, t), y, mask),
                                                                     abs(t - 1))) for p in probs])
    calibrated = [temper_binary(p, t) for p, t in zip(probs, temperatures)]
    inner = {"members": {name: {"log_loss": balanced_bce(p, y, mask), "f1_macro": _au_f1(p, y, mask)}
                         for name, p in zip(members, calibrated)}}
    grid = np.eye(len(members)) if config.combiner == "select" else simplex_grid(len(members), config.weight_step)
    best, best_key = None, None
    for w in grid:
        p = sum(wi * pi for wi, pi in zip(w, calibrated))
        loss = balanced_bce(p, y, mask)
        key = (loss,) if config.objective == "log_loss" else (-_au_f1(p, y, mask), loss)
        if best_key is None or key < tuple(k - 1e-12 for k in best_key):
            best, best_key = w, key
    p = sum(wi * pi for wi, pi in zip(best, calibrated))
    inner["combination"] = {"log_loss": balanced_bce(p, y, mask), "f1_macro": _au_f1(p, y, mask)}
    return AuCombination(config.combiner, members, best.copy(), temperatures, inner)


# ---- the fold function ------------------------------------------------------------------------------------------


def member_seed(seed: int, member: str, fold: str) -> int:
    """A stable seed per (fold seed, member, inner fold or ``"final"``)."""
    digest = hashlib.sha256(f"{seed}|{member}|{fold}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _member_fit(name: str, config: Any, data: FeatureSet, held: Sequence[str], seed: int,
                exclude: Sequence[str], device: str | None, log, au=None) -> FoldResult:
    from mer_ray.methods import get_method

    extra = {} if au is None else {"au": au}
    return get_method(config.method).fit_predict(config, data, list(held), seed, exclude_subjects=list(exclude),
                                                 device=device, log=log, **extra)


def out_of_fold(config: PortfolioConfig, data: FeatureSet, held_out: Sequence[str], seed: int, *,
                exclude_subjects: Sequence[str] = (), device: str | None = None,
                log: Callable[[str], None] | None = None,
                au=None) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, dict]:
    """Every member's out-of-fold probabilities for every training clip of the fold.

    Returns ``(train_rows, [(len(train_rows), C) per member], the rows' subjects, record)``; ``record``: the inner
    folds' subjects (``groups``), each member's seconds over its inner fits (``seconds``) and, per ``crossfit``
    member, its inner models' mean probabilities of the held-out clips (``crossfit``: name -> (sample_ids, (N, C))).
    ``au``: AU detection (:class:`~mer_ray.evaluation.au_task.AuTask`): the members' per-AU probabilities,
    (len(train_rows), K), NaN where an inner fold skipped an AU; ``train_rows`` are then the coded training rows.
    """
    train_rows, _ = fold_rows(data, held_out, exclude_subjects)  # checks the outer fold's masks
    if au is not None:  # the clips with AU codes (the combination's targets)
        from mer_ray.evaluation.au_task import coded

        train_rows = train_rows[coded(data.meta["action_units"].to_numpy()[train_rows].tolist())]
    subjects = data.meta["subject"].to_numpy()
    sample_ids = data.meta["sample_id"].to_numpy()
    train_subjects = sorted(set(subjects[train_rows]))
    hidden = (*held_out, *exclude_subjects)
    # inner_folds() leaves out one "outer" subject; none of the training subjects is it
    groups = [f.held_out for f in inner_folds(train_subjects, "\0outer", config.inner_folds, seed)]
    position = {sid: i for i, sid in enumerate(sample_ids[train_rows])}
    width = 3 if au is None else len(au.aus)
    oof = [np.full((len(train_rows), width), np.nan) for _ in config.members]
    to_probabilities = probabilities if au is None else au_probabilities
    seconds = dict.fromkeys(config.members, 0.0)
    held_probs: dict[str, list[tuple[list[str], np.ndarray]]] = {name: [] for name in config.crossfit}
    for g, group in enumerate(groups):
        inner_data = data.with_masked_labels(list(group))  # the outer hidden subjects stay masked
        for i, name in enumerate(config.members):
            crossfit = name in config.crossfit  # its inner model also predicts the held-out subject(s)
            started = time.monotonic()
            result = _member_fit(name, config.member_config(name, inner=True), inner_data,
                                 [*group, *held_out] if crossfit else group, member_seed(seed, name, f"g{g}"),
                                 exclude_subjects if crossfit else hidden, device, log, au)
            seconds[name] += time.monotonic() - started
            probs = to_probabilities(result.scores)
            inner = [k for k, sid in enumerate(result.sample_ids) if sid in position]
            oof[i][[position[result.sample_ids[k]] for k in inner]] = probs[inner]
            if crossfit:
                outer = [k for k, sid in enumerate(result.sample_ids) if sid not in position]
                held_probs[name].append(([result.sample_ids[k] for k in outer], probs[outer]))
    if au is None and any(np.isnan(p).any() for p in oof):  # AU detection: NaN = an AU an inner fold skipped
        raise RuntimeError("a training clip got no out-of-fold score")
    record = {"groups": {f"g{g}": list(group) for g, group in enumerate(groups)}, "seconds": seconds,
              "crossfit": {name: _mean_held(parts) for name, parts in held_probs.items()}}
    return train_rows, oof, subjects[train_rows], record


def _mean_held(parts: list[tuple[list[str], np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """The inner models' mean probabilities of the held-out clips (every inner model predicts them in one order)."""
    ids = parts[0][0]
    if any(other != ids for other, _ in parts[1:]):
        raise RuntimeError("inner models returned the held-out clips in different orders")
    stacked = np.stack([p for _, p in parts])
    if np.isnan(stacked).any():  # AU detection: the inner models that scored an AU (NaN where none did)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return ids, np.nanmean(stacked, axis=0)
    return ids, stacked.mean(axis=0)


def fit_predict(config: PortfolioConfig, data: FeatureSet, held_out: Sequence[str], seed: int, *,
                exclude_subjects: Sequence[str] = (), device: str | None = None,
                log: Callable[[str], None] | None = None, au=None) -> FoldResult:
    """Fit the combination on inner folds of the training subjects, then every member on all of them; predict
    ``held_out`` (a ``mer_ray.methods`` fold function).

    ``au``: AU detection (:class:`~mer_ray.evaluation.au_task.AuTask`): the members detect every AU, the
    combination (:func:`fit_au_combination`) is fitted on their out-of-fold probabilities and the training clips'
    AU codes, and an AU is present where the combined probability is > 0.5 (skipped AUs: -1, as the members)."""
    start = time.monotonic()
    held = list(held_out)
    train_rows, oof, groups, inner_record = out_of_fold(config, data, held, seed, exclude_subjects=exclude_subjects,
                                                        device=device, log=log, au=au)
    if au is None:
        combination = fit_combination(config, oof, data.labels[train_rows], groups)
    else:
        from mer_ray.evaluation.au_task import au_matrix

        combination = fit_au_combination(config, oof, au_matrix(data.meta["action_units"].to_numpy()[train_rows],
                                                                 au.aus))
    seconds_inner = time.monotonic() - start
    finals = {name: _member_fit(name, config.member_config(name, inner=False), data, held,
                                member_seed(seed, name, "final"), exclude_subjects, device, log, au)
              for name in config.members if name not in config.crossfit}
    held_ids = [list(r.sample_ids) for r in finals.values()] + [ids for ids, _ in inner_record["crossfit"].values()]
    sample_ids = held_ids[0]
    if any(ids != sample_ids for ids in held_ids[1:]):
        raise RuntimeError("portfolio members returned the held-out clips in different orders")
    to_probabilities = probabilities if au is None else au_probabilities
    member_probs = [to_probabilities(finals[name].scores) if name in finals else inner_record["crossfit"][name][1]
                    for name in config.members]
    scores = combination(member_probs).astype(np.float32)
    y_pred = scores.argmax(axis=1).astype(np.int64)
    if au is not None:  # an AU the final members skipped (or no inner model scored): -1
        from mer_ray.evaluation.au_task import decide

        finals_au = [r.details["au"] for r in finals.values() if "au" in r.details]
        skipped = set().union(*(set(r["skipped"]) for r in finals_au)) if finals_au else set()
        active = np.array([name not in skipped for name in au.names]) & ~np.isnan(scores).all(axis=0)
        y_pred, scores = decide(scores, active)
    details = {
        "portfolio": combination.record(),
        "inner_groups": inner_record["groups"],
        "sample_ids": list(sample_ids),
        "member_scores": {name: p.astype(np.float32).tolist() for name, p in zip(config.members, member_probs)},
        "member_seconds": {name: finals[name].seconds if name in finals else inner_record["seconds"][name]
                           for name in config.members},
        "inner_member_seconds": inner_record["seconds"],
        "inner_seconds": seconds_inner,
    }
    if au is not None:
        details["au"] = {**(finals_au[0] if finals_au else {}),
                         "skipped": {name: why for r in finals_au for name, why in r["skipped"].items()}}
    if config.record_inner:  # the out-of-fold probabilities the combination was fitted on (training clips)
        details["inner_ids"] = data.meta["sample_id"].iloc[train_rows].tolist()
        details["inner_scores"] = {name: p.astype(np.float32).tolist() for name, p in zip(config.members, oof)}
    return FoldResult(
        subject="+".join(held),
        sample_ids=sample_ids,
        y_pred=y_pred,
        scores=scores,
        train_ids=data.meta["sample_id"].iloc[train_rows].tolist(),
        epochs=max((r.epochs for r in finals.values()), default=0),
        seconds=time.monotonic() - start,
        model_digest=hashlib.sha256("|".join([*(r.model_digest for r in finals.values()),
                                              *(hashlib.sha256(p.tobytes()).hexdigest()
                                                for _, p in inner_record["crossfit"].values())]).encode()
                                    ).hexdigest(),
        details=details,
    )
