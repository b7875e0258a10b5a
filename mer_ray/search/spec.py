"""What a LOSO run is: :class:`RunSpec`, built from the command line or read back from ``RUN/run.json``."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mer_ray.infra.atomic import write_json
from mer_ray.search.settings import parse_settings
from search_spaces.space import SearchSpace

# --smoke-test: the smallest run that still exercises every stage
SMOKE_OVERRIDES = {"epochs": 1, "pretrain_epochs": 1, "input_size": 64, "batch_size": 8}
SMOKE_TRIALS = 2


def evaluation_protocol(args: argparse.Namespace) -> str:
    """The evaluation protocol the command line asks for: ``--protocol loso|lodo`` as given, else ``lodo`` when
    ``--test-dataset`` is given (a cross-dataset fold), else ``loso``."""
    given = getattr(args, "eval_protocol", None)
    if given:
        return given
    return "lodo" if getattr(args, "test_dataset", None) else "loso"


@dataclass(frozen=True)
class RunSpec:
    """Every choice that defines a run; ``--resume`` continues exactly this (only the resources may change).

    Attributes:
        space: the search space's name.
        features: the features folder (absolute).
        features_content_hash: the manifest's content hash when the run started.
        subset: datasets the run narrowed the features to (None: all).
        trials: configurations to evaluate.
        repeats: times a fixed configuration is trained with other seeds (``--repeats``; each repeat is one Optuna
            trial of the same configuration, its folds seeded by its own configuration id).
        protocol: the evaluation protocol, ``"loso"`` (leave one subject out) or ``"lodo"`` (leave one dataset
            out: ``--protocol lodo`` / ``--test-dataset``); a run.json without it is a LOSO run.
        test_dataset: under ``lodo``, the one dataset tested on (``--test-dataset``; None: every dataset in turn).
        nested: a nested search (``--nested``).
        inner_folds: inner folds of a nested search.
        seed: base seed of the sampler and of every fold.
        objective: pooled metric Optuna maximises (``uar`` / ``uf1``; AU task: ``f1_macro`` / ``f1_binary``).
        task: ``"emotion"`` (the three classes; a run.json without it is one) or ``"au"`` (AU detection,
            ``--task au``: :mod:`mer_ray.evaluation.au_task`).
        aus: the AU task's target AUs, fixed before any fold (``--aus``, else the most frequent in the features).
        au_min_positives: an AU with fewer positive (or negative) training clips in a fold is skipped there.
        dropped_clips: clips left out because they carry no AU code (AU task).
        reference: the configuration label the leaderboard compares every other one with (paired intervals).
        smoke_test: the ``--smoke-test`` limits apply.
        demo_space: the space's CPU-sized demo variant is used (the features are the built-in demo).
        overrides: training parameters forced on every configuration.
        settings: ``--set`` values: the run is the space's fixed settings plus these (one configuration).
        fixed: the space's constants in force (a record for the reader; the space module is the source).
        cpus_per_trial, gpus_per_trial: resources of one trial.
        clips, subjects, datasets: what the features held (a record).
        python, argv: provenance.
    """

    space: str
    features: str
    features_content_hash: str | None = None
    subset: list[str] | None = None
    trials: int = 1
    repeats: int = 1
    protocol: str = "loso"
    test_dataset: str | None = None
    nested: bool = False
    inner_folds: int = 4
    seed: int = 0
    objective: str = "uar"
    task: str = "emotion"
    aus: list[int] | None = None
    au_min_positives: int = 3
    dropped_clips: int = 0
    reference: str | None = None
    smoke_test: bool = False
    demo_space: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    clips: int = 0
    subjects: int = 0
    datasets: list[str] = field(default_factory=list)
    python: str = field(default_factory=platform.python_version)
    argv: list[str] = field(default_factory=lambda: list(sys.argv))

    @classmethod
    def from_args(cls, args: argparse.Namespace, space: SearchSpace, features) -> RunSpec:
        """A new run's spec from the CLI arguments, the space module and the loaded ``FeatureSet`` (under
        ``--task au``: its coded clips, :func:`mer_ray.evaluation.au_task.check_au_codes` passed)."""
        from mer_ray.evaluation.au_task import DEFAULT_MIN_POSITIVES, parse_aus, vocabulary

        is_demo = features.is_demo
        task = getattr(args, "task", None) or "emotion"
        aus = list(vocabulary(features.meta, parse_aus(getattr(args, "aus", None)))) if task == "au" else None
        objective = getattr(args, "objective", None) or ("f1_macro" if task == "au" else "uar")
        default_trials = SMOKE_TRIALS if args.smoke_test else space.default_trials(is_demo)
        trials = 1 if space.sampler == "fixed" else args.trials or default_trials
        overrides = dict(SMOKE_OVERRIDES) if args.smoke_test else {}
        if args.save_pretrained:
            overrides["save_pretrained"] = str(args.save_pretrained.expanduser().resolve())  # absolute: Ray workers
        if args.pretrained_from:
            overrides["pretrained_from"] = str(args.pretrained_from.expanduser().resolve())
        return cls(
            space=args.search,
            features=str(Path(features.source).resolve()),
            features_content_hash=features.manifest.get("content_hash"),
            subset=args.subset,
            trials=trials,
            repeats=getattr(args, "repeats", 1) or 1,
            protocol=evaluation_protocol(args),
            test_dataset=getattr(args, "test_dataset", None),
            nested=args.nested,
            inner_folds=args.inner_folds,
            seed=args.seed,
            objective=objective,
            task=task,
            aus=aus,
            # --smoke-test: a handful of clips, where 3 training positives are rare: 1 unless --au-min-positives
            au_min_positives=getattr(args, "au_min_positives", None) or (1 if args.smoke_test else
                                                                         DEFAULT_MIN_POSITIVES),
            reference=args.reference or space.reference,
            smoke_test=args.smoke_test,
            demo_space=is_demo,
            overrides=overrides,
            settings=parse_settings(getattr(args, "set", None)),
            fixed=space.params(is_demo),
            cpus_per_trial=args.cpus_per_trial,
            gpus_per_trial=args.gpus_per_trial,
            clips=len(features),
            subjects=len(features.subjects),
            datasets=list(features.datasets),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> RunSpec:
        """Read ``run.json``; keys this version does not know are ignored, missing ones take their defaults."""
        values = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_json(self, path: str | Path) -> None:
        write_json(path, asdict(self), sort_keys=False)

    def au_task(self):
        """The AU detection targets (:class:`~mer_ray.evaluation.au_task.AuTask`) of an AU run; None for emotion."""
        if self.task != "au":
            return None
        from mer_ray.evaluation.au_task import AuTask

        return AuTask(tuple(self.aus or ()), self.au_min_positives)

    def with_resources(self, cpus_per_trial: float, gpus_per_trial: float) -> RunSpec:
        """The same run on other resources (what ``--resume`` may change)."""
        return replace(self, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, argv=list(sys.argv))

    def folds(self, features) -> list:
        """The run's folds over ``features`` (a loaded ``FeatureSet``): :func:`mer_ray.evaluation.folds.protocol_folds`
        of its protocol."""
        from mer_ray.evaluation.folds import protocol_folds

        return protocol_folds(features, self.protocol, self.test_dataset)

    def describe_protocol(self) -> str:
        """The protocol in words, with its folds (what the report's first lines say)."""
        from mer_ray.evaluation.folds import describe_protocol

        return describe_protocol(self.protocol, self.datasets, self.test_dataset, self.subjects)

    def features_changed(self, features) -> str | None:
        """Why ``--resume`` must refuse ``features`` (a loaded ``FeatureSet``): its content hash is not the one the
        run started with (None: unchanged, or the run recorded no hash)."""
        now = features.manifest.get("content_hash")
        if self.features_content_hash is None or now == self.features_content_hash:
            return None
        return (f"the features folder {features.source} changed since the run started (content hash "
                f"{self.features_content_hash[:12]} then, {str(now)[:12]} now): its finished folds were trained on "
                "other features. Start a new run without --resume, or restore that folder")
