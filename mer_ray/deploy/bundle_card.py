"""The model card (``README.md``) of a network bundle (:mod:`mer_ray.deploy.bundle`), as text made from its
``bundle.json``, and the pieces every kind of bundle's card shares (its first sentence, the LOSO score, the closing
sections); :func:`loso_figures` is also what ``python -m mer_ray.fit`` prints.
"""

from __future__ import annotations

from typing import Any

from mer_ray.deploy import au_bundle
from preprocessing.annotations.datasets import only_demo


def model_card(info: dict[str, Any]) -> str:
    """The bundle's README.md: what the model is, what it was trained on, how good it is, how to use it."""
    cfg, feats, loso = info["train_config"], info["features"], info.get("loso")
    score = loso_text(loso, accuracy=True)
    where = f"run {loso.get('run')}, configuration {loso.get('config_id')}" if loso else ""
    demo = only_demo(feats["datasets"])
    pretrain = f", flow pretraining {cfg['pretrain_epochs']} epochs" if cfg["pretrain"] else ""
    ensemble = f", ensemble of {cfg['ensemble']}" if cfg["ensemble"] > 1 else ""
    lines = [
        "# mer-ray model bundle",
        "",
        f"{trained_on(info)}.",
        "",
        "## Model",
        "",
        f"- {cfg['model']} on {cfg['modality']} inputs at {cfg['input_size']} px, classifier {cfg['classifier']}"
        f" ({info['classifier']['scores']}), {info['epochs_used']} fine-tuning epochs "
        f"({cfg['epoch_selection']}){pretrain}{ensemble}.",
        f"- Preprocessing {info['preprocess']['config_hash']} (dlib alignment, masks, TV-L1 flow; the full "
        "configuration is in bundle.json): predict applies exactly this.",
        f"- Trained on features {feats['folder']} (content hash {str(feats['content_hash'])[:16]}), "
        f"protocol {feats['protocol']}, classes {feats['class_counts']}.",
        "",
        "## How good it is",
        "",
        f"- {score}" + (f"; {where}." if where else "."),
        "- The bundle itself is fitted on every subject, so no held-out estimate of THIS model exists: the LOSO "
        "figure describes the configuration.",
    ]
    return card_ending(lines, info, demo)


def trained_on(info: dict[str, Any]) -> str:
    """The model card's first sentence, without its full stop: what the model is and what it was trained on."""
    feats = info["features"]
    return (f"{what_it_is(info)}, trained on ALL {feats['clips']} clips of {feats['subjects']} subjects "
            f"({', '.join(feats['datasets'])})")


def what_it_is(info: dict[str, Any]) -> str:
    """The model card's first words: a 3-class classifier or an AU detector, with its labels."""
    if info.get("task", "emotion") == "au":
        return (f"An action-unit detector ({', '.join(info['labels'])}: one probability of presence per AU, "
                "multi-label)")
    return f"A 3-class micro-expression classifier ({', '.join(info['labels'])})"


def loso_text(loso: dict[str, Any] | None, *, accuracy: bool = False) -> str:
    """The model card's LOSO score: the pooled figures (UAR / UF1, or for AU detection the mean F1 over the AUs),
    marked optimistic when a search chose the configuration on the same folds."""
    if not loso:
        return "not measured: this configuration was not evaluated by a LOSO run"
    score = f"pooled LOSO {loso_figures(loso)}"
    if accuracy and "uar" in loso:
        score += f", accuracy {loso.get('accuracy', float('nan')):.4f}"
    return score + (" (OPTIMISTIC: this configuration was picked by a search over the same LOSO folds; a nested run "
                    "gives the unbiased figure)" if loso.get("optimistic") else " (a fixed configuration: no search "
                    "chose it on these folds)")


def loso_figures(loso: dict[str, Any]) -> str:
    """A configuration's pooled LOSO figures: UAR and UF1, or for AU detection the mean F1 over the AUs."""
    if "f1_macro" in loso:
        return f"mean F1 over the AUs: macro {loso['f1_macro']:.4f}, binary {loso.get('f1_binary', float('nan')):.4f}"
    return f"UAR {loso['uar']:.4f}, UF1 {loso['uf1']:.4f}"


def card_ending(lines: list[str], info: dict[str, Any], demo: bool) -> str:
    """A model card's last sections (the demo warning, the AUs of an AU bundle, how to use the bundle, its notes),
    joined into the text."""
    if demo:
        lines.append("- Trained on the built-in DEMO data (real faces, synthetic motions): a pipeline check, not a "
                     "model of real micro-expressions.")
    if info.get("task") == "au":
        lines += au_bundle.card_lines(info)
    command = f"python -m mer_ray.predict --model {info.get('path', 'BUNDLE')} VIDEO_OR_FRAME_FOLDER... --explain DIR"
    lines += ["", "## Use", "", "```", command, "```", ""]
    if info.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in info["notes"]], ""]
    return "\n".join(lines)
