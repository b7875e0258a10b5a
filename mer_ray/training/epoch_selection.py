"""A fold's epoch count: the configuration's fixed epochs, or (``epoch_selection="inner"``) the epoch with the best
validation score on held-back whole TRAINING subjects (never the held-out subject)."""

from __future__ import annotations

import numpy as np

from mer_ray.evaluation.folds import inner_split
from mer_ray.evaluation.metrics import pooled_scores
from mer_ray.training.classifiers import make_classifier
from mer_ray.training.context import FitContext
from mer_ray.training.networks import fit_network, recalibrate_batchnorm
from mer_ray.training.prediction import au_probabilities


def fold_epochs(ctx: FitContext, train_rows: np.ndarray) -> int:
    """The configuration's fixed epochs, or with ``epoch_selection="inner"`` the count chosen on held-back whole
    training subjects (:func:`choose_epochs`)."""
    if ctx.config.epoch_selection != "inner":
        return ctx.config.epochs
    rng = np.random.default_rng(ctx.seed)
    subjects = ctx.data.meta["subject"].to_numpy()
    fit_rows, val_rows = inner_split(subjects, train_rows, ctx.config.inner_fraction, rng)
    return choose_epochs(ctx, fit_rows, val_rows)


def choose_epochs(ctx: FitContext, fit_rows: np.ndarray, val_rows: np.ndarray) -> int:
    """Epoch count with the best UAR on held-back training subjects (never the held-out subject)."""
    uars: list[float] = []
    classifier = make_classifier(ctx.config)
    labels = ctx.data.labels

    def after_epoch(epoch: int, model, builder) -> None:
        recalibrate_batchnorm(model, builder, fit_rows, ctx.device)
        if ctx.au is not None:  # AU detection: the mean macro F1 of the held-back training subjects
            from mer_ray.evaluation.au_task import decide, pooled

            y_pred, _ = decide(au_probabilities(ctx.config, model, builder, val_rows, ctx.device), ctx.au.active)
            uars.append(np.nan_to_num(pooled(ctx.au.targets[val_rows].astype(np.int64), y_pred)["f1_macro"]))
        else:
            fitted = classifier.fit(model, builder, fit_rows, labels[fit_rows], ctx.device)
            y_pred, _ = fitted.predict(model, builder, val_rows, ctx.device)
            uars.append(pooled_scores(labels[val_rows], y_pred)["uar"])
        if ctx.on_epoch is not None:
            ctx.on_epoch("inner", epoch, {"f1_macro" if ctx.au is not None else "uar": uars[-1]})

    relay = ctx.on_epoch
    inner = FitContext(ctx.config, ctx.data, ctx.device, ctx.seed, ctx.log,  # its losses are not the fold's
                       on_epoch=None if relay is None else lambda phase, e, v: relay(f"inner_{phase}", e, v),
                       au=ctx.au)
    fit_network(inner, fit_rows, ctx.config.epochs, after_epoch=after_epoch)
    ctx.history["inner_uar"] = uars
    return int(np.argmax(uars)) + 1  # first epoch reaching the best inner UAR
