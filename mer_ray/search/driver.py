"""What ``python -m mer_ray.loso`` does, as a library: :class:`LosoRun`.

One run: resolve the space, ``--set`` / ``--resume`` and the evaluation protocol (``--protocol loso|lodo``,
``--test-dataset``), check that a given features folder is one and holds the datasets a cross-dataset protocol
needs (before Ray starts), start Ray, find or build the features, make or reopen the run folder and hold its lock,
run the linear probe and the search on the protocol's folds (LOSO, nested LOSO, or one fold per held-out dataset)
on Ray Tune, write the report and print the tables. An interrupt ends it through :meth:`LosoRun.stopped`, which
reads how far the run got (its run folder, once made) to print the ``--resume`` command.

The run inside its folder, once resolved and locked: :func:`mer_ray.search.folder_run.run_in_folder`.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from mer_ray.infra.errors import UsageError, as_usage_error
from mer_ray.search.checks import (
    au_features,
    check_au_configurations,
    check_au_folder,
    check_features_folder,
    check_protocol_datasets,
    check_repeats,
    protocol_label,
)
from mer_ray.search.folder_run import run_in_folder
from mer_ray.search.run_folder import RUN_LOCK, RunFolder, new_run_folder
from mer_ray.search.spec import RunSpec
from search_spaces import get_space
from search_spaces.space import SearchSpace


class LosoRun:
    """One ``python -m mer_ray.loso`` run: its parsed command line and, once made, its run folder.

    :meth:`run` does the work and returns the exit status; user errors raise :class:`UsageError` (or a library's
    own typed error: ``FeaturesError``). :meth:`stopped` is the way out after SIGINT / SIGTERM.

    Attributes:
        args: the parsed arguments (:func:`mer_ray.loso.build_parser`).
        folder: the run folder, set once it exists and this process holds its lock (what :meth:`stopped` names).
    """

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.folder: RunFolder | None = None

    def run(self) -> int:
        """The whole command: 0 when a configuration (or the nested procedure) completed, 1 when none did."""
        from mer_ray.data.features import load_features
        from mer_ray.infra.console import quiet
        from mer_ray.infra.runtime import cache_root, init_ray
        from mer_ray.search.scheduler import check_space_inputs

        args = self.args
        console = quiet(cache_root() / "logs" / f"loso-{os.getpid()}.log", verbose=args.verbose)  # RUN/logs/ later
        space, resumed = self.resolve_space()  # before Ray starts: a mistyped argument fails at once
        protocol, test_dataset = self.resolve_protocol(resumed)
        task = self.resolve_task(resumed, space)
        if resumed or args.features:  # a folder that is not a features folder, too
            given = Path(resumed.features) if resumed else args.features
            check_features_folder(given, f"--resume {args.resume}: its features folder" if resumed else "--features")
        if protocol == "lodo":  # the datasets a cross-dataset protocol needs, from the manifest or the arguments
            check_protocol_datasets(self.planned_datasets(resumed), test_dataset)
        if task == "au" and (resumed or args.features):  # every dataset's AU codes, from the shards' metadata
            check_au_folder(Path(resumed.features) if resumed else args.features,
                            resumed.subset if resumed else args.subset)
        init_ray(args.address, log_to_driver=console is None, progress_bars=console is None)
        with as_usage_error(ValueError, RuntimeError):
            features_dir = Path(resumed.features) if resumed else self.features_dir()
        features = load_features(features_dir, datasets=resumed.subset if resumed else args.subset)
        check_space_inputs(space, features)  # before the probe or any trial
        dropped = 0
        if task == "au":  # every dataset must code AUs; clips without a code are left out (before any trial)
            features, dropped = au_features(features)
        if resumed:
            if changed := resumed.features_changed(features):
                raise UsageError(f"--resume {args.resume}: {changed}")
            spec, folder = resumed, RunFolder(args.resume)
        else:
            with as_usage_error(ValueError):
                spec = RunSpec.from_args(args, space, features)
            if dropped:
                spec = replace(spec, dropped_clips=dropped)
        if spec.protocol == "lodo":  # the loaded clips themselves (a dataset whose clips were all rejected)
            check_protocol_datasets(list(features.datasets), spec.test_dataset)
        with as_usage_error(ValueError):
            spec.folds(features)
        if not resumed:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            suffix = "-nested" if spec.nested else "-lodo" if spec.protocol == "lodo" else ""
            folder = new_run_folder(args.out.expanduser(), f"{stamp}-{args.search}{suffix}")
        from mer_ray.infra.locks import FolderBusy, exclusive

        try:
            with exclusive(folder.root / RUN_LOCK, f"running {folder.root}", wait=False):
                self.folder = folder
                return run_in_folder(folder, spec, space, features, max_failures=args.max_failures)
        except FolderBusy as err:
            raise UsageError(f"{err} (a run folder takes one process; --resume it once that one has stopped)") from err

    def resolve_space(self) -> tuple[SearchSpace, RunSpec | None]:
        """``(space, resumed)``: the space with the ``--set`` values fixed (a resumed run keeps its own), and the
        spec of the ``--resume`` run folder (None for a new run). Raises :class:`UsageError`."""
        from mer_ray.search.settings import fixed_space, parse_settings

        args = self.args
        with as_usage_error(ValueError):
            space = get_space(args.search)
            settings = parse_settings(args.set)
            resumed = self.resumed_spec() if args.resume else None
            settings = resumed.settings if resumed else settings  # a resumed run keeps its own --set values
            space = fixed_space(space, settings) if settings else space
        check_repeats(getattr(args, "repeats", 1), space, args.nested)
        return space, resumed

    def resolve_task(self, resumed: RunSpec | None, space: SearchSpace) -> str:
        """The run's task, ``emotion`` or ``au`` (``--task``; a resumed run keeps its own and refuses another), with
        the AU options checked before Ray starts. Raises :class:`UsageError`."""
        from mer_ray.evaluation.au_task import OBJECTIVES as AU_OBJECTIVES
        from mer_ray.evaluation.au_task import parse_aus

        args = self.args
        given = getattr(args, "task", None)
        if resumed:
            if given and given != resumed.task:
                raise UsageError(f"--resume {args.resume} is a --task {resumed.task} run; got --task {given}: drop "
                                 "--task to continue it, or start a new run")
            return resumed.task
        task = given or "emotion"
        objective = getattr(args, "objective", None)
        if task != "au":
            for option in ("aus", "au_min_positives"):
                if getattr(args, option, None) is not None:
                    raise UsageError(f"--{option.replace('_', '-')} sets the AU detection targets: it needs --task au")
            if objective in AU_OBJECTIVES:
                raise UsageError(f"--objective {objective} is an AU detection score: it needs --task au")
            return task
        with as_usage_error(ValueError):
            parse_aus(getattr(args, "aus", None))
        if objective is not None and objective not in AU_OBJECTIVES:
            raise UsageError(f"--objective {objective} scores the emotion classes; --task au is scored by "
                             f"{' or '.join(AU_OBJECTIVES)}")
        if (getattr(args, "au_min_positives", None) or 1) < 1:
            raise UsageError(f"--au-min-positives {args.au_min_positives}: expected an integer >= 1")
        if args.nested:
            raise UsageError("--task au runs LOSO or leave-one-dataset-out folds; it cannot go with --nested yet "
                             "(--repeats N of a fixed configuration can): drop --nested")
        check_au_configurations(space)
        return task

    def resumed_spec(self) -> RunSpec:
        """The spec of the ``--resume`` folder, on this command's resources; it must be a run of ``--search``."""
        args = self.args
        folder = RunFolder(args.resume)
        if not folder.run_json.is_file():
            raise UsageError(f"--resume {args.resume}: {folder.run_json} not found (not a run folder)")
        spec = RunSpec.from_json(folder.run_json)
        if spec.space != args.search:
            raise UsageError(f"--resume {args.resume} is a '{spec.space}' run; got --search {args.search}")
        return spec.with_resources(args.cpus_per_trial, args.gpus_per_trial)

    def resolve_protocol(self, resumed: RunSpec | None) -> tuple[str, str | None]:
        """``(protocol, test_dataset)`` of this run: a resumed run's own (a different ``--protocol`` /
        ``--test-dataset`` is refused), else the command line's. Raises :class:`UsageError` before Ray starts."""
        from mer_ray.search.spec import evaluation_protocol

        args = self.args
        given, test_dataset = getattr(args, "eval_protocol", None), getattr(args, "test_dataset", None)
        if resumed:
            asked = evaluation_protocol(args)
            if (given or test_dataset) and (asked, test_dataset) != (resumed.protocol, resumed.test_dataset):
                was = protocol_label(resumed.protocol, resumed.test_dataset)
                raise UsageError(f"--resume {args.resume} is a {was} run; got {protocol_label(asked, test_dataset)}: "
                                 "drop --protocol / --test-dataset to continue it, or start a new run")
            return resumed.protocol, resumed.test_dataset
        if given == "loso" and test_dataset:
            raise UsageError(f"--test-dataset {test_dataset} trains on the other datasets and tests on this one (a "
                             "leave-one-dataset-out fold); it cannot go with --protocol loso: drop one of them")
        protocol = evaluation_protocol(args)
        if protocol == "lodo" and args.nested:
            raise UsageError(f"--nested searches inside leave-one-subject-out folds only; it cannot go with "
                             f"{protocol_label(protocol, test_dataset)}: drop one of them")
        return protocol, test_dataset

    def planned_datasets(self, resumed: RunSpec | None) -> list[str] | None:
        """The datasets the run will evaluate, known before Ray starts: a resumed run's record, the ``--features``
        manifest's clips, the ``--dataset`` names or the built-in demo, narrowed by ``--subset`` (None: not known
        yet; the loaded features are checked after Ray starts)."""
        from preprocessing.annotations.datasets import DEMO, DEMO_LAYOUT_DATASETS, parse_dataset_specs
        from preprocessing.features.shards import read_manifest

        args = self.args
        if resumed:
            return list(resumed.datasets) or None
        if args.features:
            manifest = read_manifest(Path(args.features).expanduser().resolve()) or {}
            ids = manifest.get("sample_ids")
            if not isinstance(ids, list) or not ids:
                return None
            names = sorted({str(sample_id).split("/")[0] for sample_id in ids})
        elif args.dataset:
            with as_usage_error(ValueError):
                names = [name for name, _ in parse_dataset_specs(args.dataset)]
        else:
            names = list(DEMO_LAYOUT_DATASETS) if self.demo_layouts() else [DEMO]
        if args.subset:
            if set(args.subset) - set(names):
                return None  # load_features names the unknown ones
            names = [name for name in names if name in args.subset]
        return names

    def features_dir(self) -> Path:
        """``--features`` as given, else ``--dataset`` (or the demo) preprocessed into the feature cache."""
        from preprocessing.annotations.datasets import DEMO_LAYOUT_DATASETS
        from preprocessing.features.prepare import resolve_features

        args = self.args
        datasets = list(DEMO_LAYOUT_DATASETS) if self.demo_layouts() else args.dataset
        if datasets and not args.dataset:
            print("no --features or --dataset given, leaving one dataset out: using the built-in demo in three "
                  f"layouts ({', '.join(datasets)}: its subjects split over the CASME II, SAMM and CAS(ME)^3 "
                  "layouts); generated and preprocessed on first use", flush=True)
        return resolve_features(args.features, datasets, args.dataset_option, args.protocol,
                                smoke_test=args.smoke_test)

    def demo_layouts(self) -> bool:
        """Whether this run uses the multi-layout demo: a leave-one-dataset-out run given no data."""
        from mer_ray.search.spec import evaluation_protocol

        args = self.args
        return not (args.features or args.dataset or args.resume) and evaluation_protocol(args) == "lodo"

    def stopped(self, stop) -> int:
        """After SIGINT / SIGTERM (``stop``: the :class:`~mer_ray.infra.interrupts.Interrupted`): shut Ray down
        quietly, say how to continue in one line, return 128 + signal."""
        from mer_ray.infra.runtime import shutdown_ray_after_interrupt

        shutdown_ray_after_interrupt()
        folder = self.folder
        if folder is not None and folder.run_json.is_file():
            print(f"interrupted ({stop.name}): {folder.count_folds()} finished folds kept in {folder.root}; continue "
                  f"with: {resume_command(self.args, folder)}", file=sys.stderr, flush=True)
        else:
            print(f"interrupted ({stop.name}) before a run folder was made: nothing to resume (preprocessed shards "
                  "are kept); run the same command again", file=sys.stderr, flush=True)
        return stop.exit_code


def resume_command(args: argparse.Namespace, folder: RunFolder) -> str:
    """The exact command that continues ``folder`` (the resources given to this run included)."""
    parts = ["python -m mer_ray.loso", f"--search {args.search}", f"--resume {folder.root}"]
    if args.address:
        parts.append(f"--address {args.address}")
    if args.cpus_per_trial != 1.0:
        parts.append(f"--cpus-per-trial {args.cpus_per_trial:g}")
    if args.gpus_per_trial:
        parts.append(f"--gpus-per-trial {args.gpus_per_trial:g}")
    if args.max_failures != 2:
        parts.append(f"--max-failures {args.max_failures}")
    return " ".join(parts)
