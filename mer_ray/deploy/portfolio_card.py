"""The model card (``README.md``) of a portfolio bundle (:mod:`mer_ray.deploy.portfolio_bundle`): its members,
combination, preprocessing, training features and LOSO figure, as text made from its ``bundle.json``.
"""

from __future__ import annotations

from typing import Any

from mer_ray.deploy.bundle_card import card_ending, loso_text, trained_on
from preprocessing.annotations.datasets import only_demo


def portfolio_card(info: dict[str, Any]) -> str:
    """The portfolio bundle's README.md."""
    feats, comb = info["features"], info["combination"]
    cfg = info["portfolio_config"]
    score = loso_text(info.get("loso"))
    lines = [
        "# mer-ray model bundle (portfolio)",
        "",
        f"{trained_on(info)}: {len(cfg['members'])} members whose probabilities are combined "
        f"({comb['combiner']}).",
        "",
        "## Model",
        "",
    ]
    for name in cfg["members"]:
        entry = info["members"][name]
        weight, temperature = comb["weights"][name], comb["temperatures"][name]
        if entry["kind"] == "linear_probe":
            c = entry["config"]
            files = entry["arrays"] if isinstance(entry["arrays"], str) else f"one per AU: {len(entry['arrays'])} files"
            what = (f"linear probe: masked ({', '.join(c['channels'])}) flow pooled to {c['pool']}x{c['pool']}, "
                    f"standardised, {c['classifier']}; refitted on every clip ({files})")
        elif entry.get("crossfit", True):
            what = (f"{len(entry['groups'])} cross-fitted networks (each trained without one of {info['inner_folds']} "
                    f"subject groups), their probabilities averaged; epochs {entry['epochs_used']} "
                    f"(the network bundle {entry['bundle']}/)")
        else:
            what = (f"{len(entry['groups'][0])} networks fitted on every clip, their scores averaged; epochs "
                    f"{entry['epochs_used']} (the network bundle {entry['bundle']}/)")
        lines.append(f"- `{name}` (weight {weight:.2f}, temperature {temperature:g}): {what}.")
    inner = comb.get("inner", {}).get("combination", {})
    figure = (f"UAR {inner['uar']:.4f}" if "uar" in inner else
              f"mean F1 over the AUs (macro) {inner['f1_macro']:.4f}" if "f1_macro" in inner else "")
    if figure:
        lines.append(f"- Weights and temperatures fitted on the out-of-fold probabilities of the training clips "
                     f"({info['inner_folds']} subject-wise groups), objective {cfg['objective']}: out-of-fold "
                     f"{figure} (an in-sample choice: not an estimate).")
    fell = comb.get("inner", {}).get("fallback")
    if fell:
        lines.append(f"- Fallback: the combination beat `{fell['member']}` on the out-of-fold UAR in "
                     f"{fell['share_ahead']:.1%} of bootstrap replicates over the training subjects (needed "
                     f"{fell['confidence']:.0%}), so " + (f"`{fell['member']}` alone predicts." if fell["used"] else
                                                          "the combination predicts."))
    lines += [
        f"- Preprocessing {info['preprocess']['config_hash']} (dlib alignment, masks, TV-L1 flow; the full "
        "configuration is in bundle.json): predict applies exactly this.",
        f"- Trained on features {feats['folder']} (content hash {str(feats['content_hash'])[:16]}), "
        f"protocol {feats['protocol']}, classes {feats['class_counts']}.",
        f"- Scores: {info['classifier']['scores']}.",
        "",
        "## How good it is",
        "",
        f"- {score}.",
        "- The bundle itself is fitted on every subject, so no held-out estimate of THIS model exists: the LOSO "
        "figure describes the configuration.",
    ]
    return card_ending(lines, info, only_demo(feats["datasets"]))


__all__ = ["portfolio_card"]
