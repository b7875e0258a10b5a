"""A model bundle: a trained configuration, written by ``python -m mer_ray.fit``, read by ``python -m mer_ray.predict``.

Layout (nothing in it unpickles code: weights are torch ``state_dict`` tensors read with ``weights_only=True``,
an SVC is numeric arrays read with ``allow_pickle=False``)::

    BUNDLE/bundle.json            format version, TrainConfig, PreprocessConfig + hash, labels, input statistics,
                                  classifier, file checksums, package versions, features content hash, LOSO score
    BUNDLE/README.md              the model card
    BUNDLE/network_<k>.pt         the k-th network's state_dict (k < ensemble)
    BUNDLE/svc_<k>.npz            the k-th network's scaler + SVC as arrays (classifier "svc" only)

A portfolio bundle (``"kind": "portfolio"`` in bundle.json) holds a linear probe as arrays and network bundles of
cross-fitted networks under ``members/``: :mod:`mer_ray.deploy.portfolio_bundle`; a probe bundle (``"kind":
"probe"``, AU detection only) one linear probe per AU: :mod:`mer_ray.deploy.probe_bundle`; :func:`load_bundle`
reads them all. ``"task"`` is ``"emotion"`` (the three classes; absent in older bundles) or ``"au"`` (AU detection:
one output per AU, ``au`` records the vocabulary, thresholds and skipped AUs: :mod:`mer_ray.deploy.au_bundle`).

:func:`load_bundle` refuses a bundle of another format version, one of a kind or task it does not know, one whose
preprocessing this version of the code would not reproduce (its recorded hash differs from the hash of its recorded
configuration), or one whose files changed, with a one-line :class:`BundleError`.
"""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mer_ray.data.features import FeatureSet
from mer_ray.data.inputs import InputBuilder
from mer_ray.deploy import au_bundle
from mer_ray.deploy.au_bundle import AuDecision
from mer_ray.deploy.svc_arrays import ArraySVC
from mer_ray.evaluation.metrics import CLASS_NAMES
from mer_ray.infra.hashing import file_sha256
from mer_ray.training.classifiers import HeadClassifier, head_kind, network_outputs
from mer_ray.training.config import TrainConfig
from mer_ray.training.ensemble import ensemble_prediction
from preprocessing.annotations.datasets import only_demo

if TYPE_CHECKING:
    from mer_ray.deploy.portfolio_bundle import PortfolioBundle
    from mer_ray.deploy.probe_bundle import ProbeBundle
    from preprocessing.vision.clip import PreprocessConfig

FORMAT = "mer-ray-bundle"
FORMAT_VERSION = 1
BUNDLE_JSON = "bundle.json"
MODEL_CARD = "README.md"
KINDS = ("network", "portfolio", "probe")  # bundle.json "kind" (absent: "network"; "probe": AU detection only)
SCORE_KINDS = {"softmax": "probability", "hinge": "softmax of the SVM margins (uncalibrated)",
               "svc": "SVC one-vs-rest decision value"}


class BundleError(ValueError):
    """A bundle that cannot be used: missing, damaged, of another format version or incompatible preprocessing."""


@dataclass
class Member:
    """One trained network of a bundle with its input statistics and, for ``"svc"``, its SVC arrays."""

    network: torch.nn.Module
    mean: np.ndarray  # (C,) per-channel input mean (training rows)
    std: np.ndarray  # (C,) per-channel input std
    svc: ArraySVC | None = None


@dataclass
class Bundle:
    """A loaded bundle: call :meth:`predict` on a ``FeatureSet`` made with :attr:`preprocess`."""

    root: Path
    info: dict[str, Any]
    config: TrainConfig
    preprocess: PreprocessConfig
    members: list[Member] = field(default_factory=list)
    au: AuDecision | None = None  # AU detection: one sigmoid output per AU of its vocabulary

    @property
    def labels(self) -> list[str]:
        return list(self.info["labels"])

    @property
    def task(self) -> str:
        return "emotion" if self.au is None else "au"

    @property
    def score_kind(self) -> str:
        return SCORE_KINDS[self.config.classifier] if self.au is None else au_bundle.SCORE_KIND

    def builder(self, features: FeatureSet, member: Member) -> InputBuilder:
        """The model-input builder of ``features`` with the bundle's (training) statistics."""
        builder = InputBuilder(features, self.config.modality, self.config.input_size, self.config.apply_mask,
                               self.config.flow_norm)
        return builder.with_statistics(member.mean, member.std)

    def predict(self, features: FeatureSet, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred (N,) int64, scores (N, 3) float32)`` of every clip of ``features``, as ``train_fold`` scores
        a held-out clip (an ensemble's scores averaged, its class the arg-max). AU detection: ``(y_pred (N, K),
        scores (N, K))`` as ``train_au_fold`` (the networks' probabilities averaged; :meth:`AuDecision.decide`)."""
        if self.au is not None:
            return self.au.decide(self.au_probabilities(features, self.members, device))
        return ensemble_prediction([self.member_prediction(features, member, device) for member in self.members])

    def au_probabilities(self, features: FeatureSet, members: list[Member], device: str = "cpu") -> np.ndarray:
        """(N, K) float64 mean over ``members`` of their per-AU sigmoid probabilities (AU detection)."""
        from mer_ray.training.prediction import au_probabilities

        rows = np.arange(len(features))
        return np.mean([au_probabilities(self.config, member.network.to(device), self.builder(features, member),
                                         rows, device) for member in members], axis=0)

    def member_prediction(self, features: FeatureSet, member: Member,
                          device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
        """``(y_pred, scores)`` of every clip of ``features`` by one ``member`` (its SVC, else its network's head)."""
        rows = np.arange(len(features))
        builder = self.builder(features, member)
        network = member.network.to(device)
        if member.svc is None:
            classifier = HeadClassifier(head_kind(self.config.classifier), self.config.tta_flip)
            return classifier.predict(network, builder, rows, device)
        embeddings = network_outputs(network, builder, rows, device, embed=True, mirror=self.config.tta_flip)
        return member.svc.predict(embeddings).astype(np.int64), member.svc.scores(embeddings)


def package_versions() -> dict[str, str]:
    """Versions of what a bundle's numbers depend on (training side; the features' own are in their manifest)."""
    from importlib import metadata

    import sklearn

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {"mer-ray": version("mer-ray"), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def save_bundle(out: str | Path, *, config: TrainConfig, members: list[Member], features: FeatureSet,
                epochs: int, seed: int, source: dict[str, Any], loso: dict[str, Any] | None,
                notes: list[str] | None = None, history: dict[str, list[float]] | None = None,
                au: AuDecision | None = None) -> Path:
    """Write a bundle folder (to a temporary sibling first, renamed when complete).

    Args:
        out: the bundle folder (must not exist, or be empty).
        config: the configuration trained.
        members: the trained networks (one per ensemble member) with statistics and SVCs.
        features: what they were trained on (its manifest gives the preprocessing and content hash).
        epochs: fine-tuning epochs used (fixed, or chosen on inner subject-wise validation).
        seed: the fit's seed.
        source: where the configuration came from (``{"kind": "run", "run": ..., "config_id": ...}`` or
            ``{"kind": "space", "space": ..., "settings": {...}}``).
        loso: the configuration's pooled LOSO scores with ``"optimistic"``, or None.
        notes: lines for the model card (what was changed, what to keep in mind).
        history: training losses of the fit.
        au: AU detection (the networks have one output per AU): what they detect (:class:`AuDecision`).
    """
    out, tmp = staging_folder(out)
    preprocess = bundle_preprocess(features)
    files, member_info = write_members(tmp, members)
    info = bundle_info(config=config, features=features, preprocess=preprocess, member_info=member_info, files=files,
                       epochs=epochs, seed=seed, source=source, loso=loso, notes=notes, history=history, au=au)
    return finish_bundle(tmp, out, info, model_card)


def staging_folder(out: str | Path) -> tuple[Path, Path]:
    """The bundle's resolved folder and an empty temporary sibling to write it in (renamed when complete)."""
    out = Path(out).expanduser().resolve()
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return out, tmp


def finish_bundle(tmp: Path, out: Path, info: dict[str, Any], card: Callable[[dict[str, Any]], str]) -> Path:
    """Write bundle.json and the model card (``card`` of the info) into the staging folder, then move it to ``out``."""
    (tmp / BUNDLE_JSON).write_text(json.dumps(info, indent=2) + "\n")
    (tmp / MODEL_CARD).write_text(card({**info, "path": str(out)}))
    move_into_place(tmp, out)
    return out


def bundle_preprocess(features: FeatureSet) -> PreprocessConfig:
    """The preprocessing ``features`` were made with (their manifest's); refused when this version would hash
    that configuration differently (it would not reproduce those features)."""
    from preprocessing.vision.clip import PreprocessConfig  # OpenCV / dlib: imported only where a bundle is written

    manifest = features.manifest or {}
    preprocess = PreprocessConfig.from_dict(manifest.get("config") or {})
    if manifest.get("config_hash") and manifest["config_hash"] != preprocess.config_hash():
        raise BundleError(f"{features.source}: the manifest's preprocessing hash {manifest['config_hash']} is not the "
                          f"hash of its configuration ({preprocess.config_hash()}) in this version; preprocess again")
    return preprocess


def write_members(folder: Path, members: list[Member]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Write each member's weights (and SVC arrays) into ``folder``; returns ``(files, members)`` as bundle.json
    records them: file name -> sha256, and per member its files and input statistics."""
    files, member_info = {}, []
    for k, member in enumerate(members):
        name = f"network_{k}.pt"
        torch.save({key: value.detach().cpu() for key, value in member.network.state_dict().items()}, folder / name)
        files[name] = file_sha256(folder / name)
        entry: dict[str, Any] = {"weights": name, "mean": member.mean.tolist(), "std": member.std.tolist()}
        if member.svc is not None:
            svc_name = f"svc_{k}.npz"
            np.savez(folder / svc_name, **member.svc.to_arrays())
            files[svc_name] = file_sha256(folder / svc_name)
            entry["svc"] = {"arrays": svc_name, **member.svc.params()}
        member_info.append(entry)
    return files, member_info


def bundle_info(*, config: TrainConfig, features: FeatureSet, preprocess: PreprocessConfig,
                member_info: list[dict[str, Any]], files: dict[str, str], epochs: int, seed: int,
                source: dict[str, Any], loso: dict[str, Any] | None, notes: list[str] | None,
                history: dict[str, list[float]] | None, au: AuDecision | None = None) -> dict[str, Any]:
    """The content of bundle.json (arguments as :func:`save_bundle`'s, plus what :func:`write_members` wrote)."""
    scores = SCORE_KINDS[config.classifier] if au is None else au_bundle.SCORE_KIND
    return base_info("network", features=features, preprocess=preprocess, seed=seed, source=source, loso=loso,
                     notes=notes, au=au) | {
        "train_config": config.to_dict(),
        "epochs_used": int(epochs),
        "epoch_selection": config.epoch_selection,
        "inputs": {"modality": config.modality, "size": config.input_size, "apply_mask": config.apply_mask,
                   "flow_norm": config.flow_norm, "statistics": "per-channel mean / std over every training clip"},
        "classifier": {"kind": config.classifier, "scores": scores},
        "members": member_info,
        "files": files,
        "history": {k: [float(x) for x in v] for k, v in (history or {}).items()},
    }


def base_info(kind: str, *, features: FeatureSet, preprocess: PreprocessConfig, seed: int, source: dict[str, Any],
              loso: dict[str, Any] | None, notes: list[str] | None, au: AuDecision | None) -> dict[str, Any]:
    """What every kind of bundle.json holds: format, kind, task, labels (AU detection: the AU names, and ``au``),
    seed, preprocessing, features, source, LOSO score, notes, package versions."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "task": "emotion" if au is None else "au",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": list(CLASS_NAMES) if au is None else au.names,
        **({} if au is None else {"au": au.record()}),
        "seed": int(seed),
        "preprocess": {"config": preprocess.to_dict(), "config_hash": preprocess.config_hash()},
        "features": features_record(features),
        "source": source,
        "loso": loso,
        "notes": list(notes or []),
        "versions": {**package_versions(), "preprocessing": (features.manifest or {}).get("versions", {})},
    }


def features_record(features: FeatureSet) -> dict[str, Any]:
    """bundle.json's ``features``: folder, content and preprocessing hashes, protocol, datasets, clips, subjects,
    class counts."""
    manifest = features.manifest or {}
    meta = features.meta
    return {"folder": features.source, "content_hash": manifest.get("content_hash"),
            "config_hash": manifest.get("config_hash"), "protocol": manifest.get("protocol"),
            "datasets": sorted(meta["dataset"].unique().tolist()), "clips": len(meta),
            "subjects": int(meta["subject"].nunique()),
            "class_counts": {CLASS_NAMES[c]: int((meta["label"] == c).sum()) for c in range(3)}}


def move_into_place(tmp: Path, out: Path) -> None:
    """Rename the complete folder ``tmp`` to ``out`` (which may exist only empty; else ``tmp`` is removed)."""
    if out.exists():
        if any(out.iterdir()):
            shutil.rmtree(tmp, ignore_errors=True)
            raise BundleError(f"{out} exists and is not empty; choose another --out")
        out.rmdir()
    tmp.rename(out)


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


def load_bundle(path: str | Path, device: str = "cpu") -> Bundle | PortfolioBundle | ProbeBundle:
    """Read a bundle folder and rebuild its networks and classifiers (a portfolio bundle, ``"kind": "portfolio"``:
    :class:`mer_ray.deploy.portfolio_bundle.PortfolioBundle`; an AU probe bundle, ``"kind": "probe"``:
    :class:`mer_ray.deploy.probe_bundle.ProbeBundle`; all with the same ``predict``, ``labels``, ``task``,
    ``score_kind`` and ``preprocess``).

    Raises:
        BundleError: one line naming the bundle and the reason (missing, not a bundle, another format version, an
            unknown kind or task, preprocessing this version would not reproduce, a file missing or changed).
    """
    from mer_ray.training.networks import new_model
    from preprocessing.vision.clip import PreprocessConfig

    root = Path(path).expanduser().resolve()
    meta_path = root / BUNDLE_JSON
    if not root.exists():
        raise BundleError(f"model bundle {root} does not exist; make one with `python -m mer_ray.fit ... --out {root}`")
    if not meta_path.is_file():
        raise BundleError(f"{root} is not a model bundle (no {BUNDLE_JSON}); make one with `python -m mer_ray.fit`")
    try:
        info = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BundleError(f"{meta_path} is unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        found = info.get("format") if isinstance(info, dict) else None
        raise BundleError(f"{meta_path} is not a mer-ray bundle (format {found!r}, expected {FORMAT!r})")
    version = info.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"{root}: bundle format version {version}, this mer-ray reads version {FORMAT_VERSION}; "
                          "refit it with this version's `python -m mer_ray.fit`")
    kind, task = info.get("kind", "network"), info.get("task", "emotion")
    if kind not in KINDS:
        raise BundleError(f"{root}: a bundle of kind {kind!r}, this mer-ray reads {', '.join(map(repr, KINDS))}; "
                          "refit it with this version's `python -m mer_ray.fit`")
    if task not in au_bundle.TASKS:
        raise BundleError(f"{root}: a bundle of task {task!r}, this mer-ray reads tasks "
                          f"{', '.join(map(repr, au_bundle.TASKS))}; refit it with this version's "
                          "`python -m mer_ray.fit`")
    if kind == "probe" and task != "au":
        raise BundleError(f"{root}: a probe bundle of task {task!r}; this mer-ray reads probe bundles of task 'au' "
                          "only")
    try:
        preprocess = PreprocessConfig.from_dict(info["preprocess"]["config"])
        config = TrainConfig.from_dict(info["train_config"]) if kind == "network" else None
        au = AuDecision.from_record(info["au"]) if task == "au" else None
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{root}: incompatible bundle: this version cannot read its configuration ({err})") from None
    recorded = info["preprocess"].get("config_hash")
    if preprocess.config_hash() != recorded:
        raise BundleError(f"{root}: incompatible preprocessing: the bundle was made with preprocessing {recorded}, "
                          f"which this version computes as {preprocess.config_hash()}; refit the bundle on features "
                          "made by this version")
    for name, digest in info.get("files", {}).items():
        file = root / name
        if not file.is_file():
            raise BundleError(f"{root}: {name} is missing; the bundle is incomplete")
        if file_sha256(file) != digest:
            raise BundleError(f"{root}: {name} changed since the bundle was written (checksum mismatch)")
    if kind == "portfolio":
        from mer_ray.deploy.portfolio_bundle import load_portfolio

        return load_portfolio(root, info, preprocess, au, device)
    if kind == "probe":
        from mer_ray.deploy.probe_bundle import load_probe

        return load_probe(root, info, preprocess, au)
    members = []
    head = head_kind(config.classifier)
    for entry in info["members"]:
        network = new_model(config, config.modality, head, 3 if au is None else len(au.aus))
        try:
            state = torch.load(root / entry["weights"], map_location="cpu", weights_only=True)
            network.load_state_dict(state, strict=True)
        except (RuntimeError, OSError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BundleError(f"{root}: {entry['weights']} does not fit its configuration ({first})") from None
        network.eval().to(device)
        svc = None
        if "svc" in entry:
            with np.load(root / entry["svc"]["arrays"], allow_pickle=False) as arrays:
                svc = ArraySVC.from_arrays(dict(arrays), entry["svc"])
        members.append(Member(network, np.asarray(entry["mean"], np.float32), np.asarray(entry["std"], np.float32),
                              svc))
    return Bundle(root, info, config, preprocess, members, au)
