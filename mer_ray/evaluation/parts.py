"""The parts of a combined recipe in a report: each portfolio member's pooled row beside the combination, and the
weights chosen in each fold (``FoldResult.details`` of ``mer_ray.methods.portfolio``, kept in the run folder as
``folds/<config>/<fold>.details.json``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def member_predictions(predictions, details: Mapping[str, dict]) -> dict:
    """One predictions frame per part: ``"combination"`` (``predictions`` itself) and each member, whose frame is
    ``predictions`` with the member's held-out scores and their argmax in place of the combination's.

    ``predictions``: the portfolio's pooled frame (columns ``fold``, ``sample``, ``y_true``, ``y_pred``,
    ``scores``); ``details``: fold name -> that fold's ``FoldResult.details``.
    """
    frames = {"combination": predictions}
    members = next(iter(details.values()))["portfolio"]["members"] if details else []
    for name in members:
        by_sample = {sid: row for d in details.values()
                     for sid, row in zip(d["sample_ids"], d["member_scores"][name])}
        frame = predictions.copy()
        rows = [by_sample[sid] for sid in frame["sample"]]
        frame["scores"] = rows
        frame["y_pred"] = np.asarray(rows).argmax(axis=1).astype(np.int64)
        frames[name] = frame
    return frames


def portfolio_section(predictions, details: Mapping[str, dict]) -> str:
    """Markdown: each member's pooled UAR / UF1 beside the combination's, then the weights chosen in each fold.

    ``predictions``: the portfolio configuration's pooled predictions (``LosoSearch.config_predictions``: columns
    ``fold``, ``sample``, ``y_true``, ``y_pred``, ``scores``); ``details``: fold name -> that fold's
    ``FoldResult.details``.
    """
    from mer_ray.evaluation.metrics import pooled_scores

    if not details:
        return ""
    frames = member_predictions(predictions, details)
    lines = ["## Portfolio: members and combination", "",
             "| part | pooled UAR | pooled UF1 |", "|---|---|---|"]
    for name, frame in frames.items():
        s = pooled_scores(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy(dtype=np.int64))
        lines.append(f"| {name} | {s['uar']:.4f} | {s['uf1']:.4f} |")
    first = next(iter(details.values()))["portfolio"]
    members = first["members"]
    fallback = first["inner"].get("fallback", {}).get("member")
    extra = f" fell back to {fallback} |" if fallback else ""
    lines += ["", f"Weights fitted per fold on inner subject-wise folds of the training subjects "
                  f"(combiner {first['combiner']}; temperatures in brackets):", "",
              "| fold | " + " | ".join(members) + " | inner UAR (combination) |" + extra,
              "|---|" + "---|" * (len(members) + 1 + bool(fallback))]
    for fold, d in details.items():
        rec = d["portfolio"]
        cells = [f"{rec['weights'][m]:.2f} [{rec['temperatures'][m]:.2g}]" for m in members]
        cells.append(f"{rec['inner']['combination']['uar']:.3f}")
        if fallback:
            fell = rec["inner"]["fallback"]
            cells.append(f"{'yes' if fell['used'] else 'no'} (combination ahead in {fell['share_ahead']:.1%})")
        lines.append(f"| {fold} | " + " | ".join(cells) + " |")
    mean = {m: np.mean([d["portfolio"]["weights"][m] for d in details.values()]) for m in members}
    used = sum(d["portfolio"]["inner"]["fallback"]["used"] for d in details.values()) if fallback else 0
    lines.append("| mean | " + " | ".join(f"{mean[m]:.2f}" for m in members) + " | |"
                 + (f" {used} of {len(details)} folds |" if fallback else ""))
    if fallback:
        need = first["inner"]["fallback"]["confidence"]
        lines += ["", f"The combination is used only where its out-of-fold UAR beats {fallback}'s in at least "
                      f"{need:.0%} of bootstrap replicates over the training subjects; elsewhere {fallback} alone."]
    return "\n".join(lines) + "\n"
