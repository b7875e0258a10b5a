"""What ``python -m mer_ray.spot`` does, as a library: :class:`SpotRun`.

One run: check the arguments (before Ray starts), find the long videos (``--dataset casme2=DIR`` / ``samm=DIR``,
or the long-video demo generated once into the cache), make or reopen the run folder and hold its lock, score
every video on Ray (one task per video; the summaries are kept in ``RUN/scores/``), run one Ray Tune trial per
held-out subject, and write the outputs as folds arrive. Layout::

    RUN/run.json                 the run's settings (``--resume`` reads them back)
    RUN/scores/<video>.npz       each video's motion summary (the flow work; reused by --resume)
    RUN/skips.json               the sheet's skipped rows and the videos that could not be read, with reasons
    RUN/folds/<subject>.json     one finished fold: spotted intervals, settings chosen, timeline scores
    RUN/intervals.csv            every spotted interval: video, subject, fold, kind, frames, seconds, score, hit
    RUN/report.md                the MEGC table (micro / macro / overall), the per-subject table, the skips
    RUN/timelines/<video>.png    spotting score over time, ground truth and spotted intervals
    RUN/tune/, RUN/logs/         Ray Tune's trial folders; the log file of the quiet console
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from mer_ray.infra.errors import UsageError
from mer_ray.search.run_folder import RUN_LOCK, RunFolder, new_run_folder

DATASETS = ("casme2", "samm")


def _video_file(key: str) -> str:
    return key.replace("/", "__").replace(os.sep, "__")


class SpotRun:
    """One ``python -m mer_ray.spot`` run; :meth:`run` returns the exit status, :meth:`stopped` handles a signal."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.folder: RunFolder | None = None

    # ---- arguments -----------------------------------------------------------------------------------

    def settings(self) -> dict:
        """The run's settings from the arguments or the ``--resume`` folder; raises :class:`UsageError`."""
        from mer_ray.spotting.methods import list_spotters

        args = self.args
        if args.search not in list_spotters():
            raise UsageError(f"unknown --search {args.search!r}: expected one of {', '.join(list_spotters())}")
        if args.resume is not None:
            path = Path(args.resume) / RunFolder.RUN_JSON
            if not path.is_file():
                raise UsageError(f"--resume {args.resume}: {path} not found (not a spotting run folder)")
            spec = json.loads(path.read_text())
            if spec.get("kind") != "spot":
                raise UsageError(f"--resume {args.resume} is not a spotting run (run.json has no kind 'spot')")
            if spec["search"] != args.search:
                raise UsageError(f"--resume {args.resume} is a '{spec['search']}' run; got --search {args.search}")
            return spec
        dataset, root = "demo", None
        if args.dataset:
            name, sep, value = args.dataset.partition("=")
            if not sep or name not in DATASETS or not value:
                raise UsageError(f"--dataset {args.dataset!r}: expected NAME=DIR with NAME one of "
                                 f"{', '.join(DATASETS)}")
            if not Path(value).expanduser().is_dir():
                raise UsageError(f"--dataset {args.dataset}: {value} is not a folder")
            dataset, root = name, str(Path(value).expanduser().resolve())
        return {"kind": "spot", "search": args.search, "dataset": dataset, "root": root, "seed": args.seed,
                "demo_size": ("smoke" if args.smoke_test else "demo") if dataset == "demo" else None,
                "smoke_test": bool(args.smoke_test), "timelines": not args.no_timelines,
                "created": datetime.now().isoformat(timespec="seconds")}

    # ---- the run -------------------------------------------------------------------------------------

    def run(self) -> int:
        from mer_ray.infra.console import quiet
        from mer_ray.infra.locks import FolderBusy, exclusive
        from mer_ray.infra.runtime import cache_root, init_ray

        args = self.args
        spec = self.settings()  # before Ray: a mistyped argument fails at once
        console = quiet(cache_root() / "logs" / f"spot-{os.getpid()}.log", verbose=args.verbose)
        data = self.load(spec)
        if args.resume is not None:
            folder = RunFolder(args.resume)
        else:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            folder = new_run_folder(args.out.expanduser(), f"{stamp}-spot-{args.search}")
        try:
            with exclusive(folder.root / RUN_LOCK, f"running {folder.root}", wait=False):
                self.folder = folder
                from mer_ray.infra.atomic import write_json

                write_json(folder.run_json, spec)
                init_ray(args.address, num_cpus=args.num_cpus, log_to_driver=console is None,
                         progress_bars=console is None)
                from mer_ray.search.run_logs import log_to_run_folder

                log_to_run_folder(folder)
                return self.run_in_folder(folder, spec, data)
        except FolderBusy as err:
            raise UsageError(f"{err} (a run folder takes one process; --resume it once that one has stopped)") from err

    def load(self, spec: dict):
        from mer_ray.spotting.data import load_long_videos, long_demo_root

        if spec["dataset"] == "demo":
            root = long_demo_root(spec["demo_size"], spec["seed"])
            print(f"long-video demo ({spec['demo_size']}, seed {spec['seed']}): {root}", flush=True)
            return load_long_videos("casme2", root)
        return load_long_videos(spec["dataset"], spec["root"])

    def run_in_folder(self, folder: RunFolder, spec: dict, data) -> int:
        from mer_ray.spotting.methods import DESCRIPTIONS

        start = time.monotonic()
        print(f"run folder: {folder.root}")
        print(f"spotter '{spec['search']}': {DESCRIPTIONS[spec['search']]}", flush=True)
        summaries, video_skips = self.score_videos(folder, data)
        skips = list(data.skips) + [str(s) for s in video_skips]
        from mer_ray.infra.atomic import write_json

        write_json(folder.file("skips.json"), skips)
        for s in video_skips:
            print(f"skipped video {s}", flush=True)
        subject_of = {k: data.videos[k]["subject"] for k in summaries}
        subjects = sorted(set(subject_of.values()))
        if len(subjects) < 2:
            raise UsageError(f"{len(subjects)} subject(s) with readable videos: leave-one-subject-out needs two or "
                             "more")
        folds_dir = folder.root / "folds"
        folds_dir.mkdir(exist_ok=True)
        done = {p.stem for p in folds_dir.glob("*.json")}
        pending = [s for s in subjects if s not in done]
        n_truth = sum(len(data.truth.get(k, [])) for k in summaries)
        print(f"{len(subjects)} LOSO folds ({len(summaries)} videos, {n_truth} annotated intervals); "
              f"{len(subjects) - len(pending)} already finished, {len(pending)} to run", flush=True)
        counter = {"n": len(subjects) - len(pending)}

        def on_fold(outcome: dict) -> None:
            from mer_ray.spotting.intervals import evaluate_spotting
            from mer_ray.spotting.methods import FoldOutcome

            write_json(folds_dir / f"{outcome['subject']}.json", outcome)
            counter["n"] += 1
            fold = FoldOutcome.from_dict(outcome)
            r = evaluate_spotting(fold.intervals, {k: data.truth.get(k, []) for k in fold.intervals}).overall
            print(f"[fold {counter['n']}/{len(subjects)}] {fold.subject}: {len(fold.intervals)} videos, "
                  f"TP {r.tp} FP {r.fp} FN {r.fn} (F1 {r.f1:.3f}); train F1 {fold.train_f1:.3f}; "
                  f"{fold.seconds:.1f} CPU s | elapsed {time.monotonic() - start:.0f} s", flush=True)

        def on_error(subject: str, message: str) -> None:
            print(f"fold {subject} failed: {message}", file=sys.stderr, flush=True)

        from mer_ray.spotting.tune import run_spot_folds

        run_spot_folds({"summaries": summaries, "truth": {k: data.truth.get(k, []) for k in summaries},
                        "subject_of": subject_of, "fps": data.fps}, pending, search=spec["search"],
                       seed=int(spec["seed"]), storage=str(folder.tune_dir), on_fold=on_fold, on_error=on_error,
                       cpus_per_trial=self.args.cpus_per_trial, max_failures=self.args.max_failures)
        return self.finish(folder, spec, data, summaries, subject_of, skips, start)

    def score_videos(self, folder: RunFolder, data):
        """Every video's motion summary (Ray tasks, one per video not yet in ``RUN/scores``) and the skips."""
        import ray

        from mer_ray.spotting.data import MotionSummary, StaleSummary, VideoSkip, ks_for, summarise

        scores_dir = folder.root / "scores"
        scores_dir.mkdir(exist_ok=True)
        ks = ks_for(data.fps)
        summaries, skips, todo, stale = {}, [], [], 0
        for key, info in sorted(data.videos.items()):
            path = scores_dir / f"{_video_file(key)}.npz"
            if path.is_file():
                try:
                    summaries[key] = MotionSummary.from_npz(path)
                    continue
                except StaleSummary:  # saved by an older version: scored again below, never misread
                    stale += 1
            if not info.get("folder") or not Path(info["folder"]).is_dir():
                skips.append(VideoSkip(key, f"video folder not found ({info.get('folder')})"))
            else:
                todo.append(key)
        if todo:
            remote = ray.remote(num_cpus=1)(summarise)
            print(f"scoring {len(todo)} videos (alignment + optical flow; {len(summaries)} already scored"
                  + (f"; {stale} saved by an older version, scored again" if stale else "") + ")...", flush=True)
            refs = {remote.remote(data.videos[k]["folder"], ks, k): k for k in todo}
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                key = refs[ready[0]]
                result = ray.get(ready[0])
                if isinstance(result, VideoSkip):
                    skips.append(result)
                    continue
                result.to_npz(scores_dir / f"{_video_file(key)}.npz")
                summaries[key] = result
                print(f"  scored {key} ({len(summaries)}/{len(data.videos)})", flush=True)
        return summaries, skips

    def finish(self, folder: RunFolder, spec: dict, data, summaries, subject_of, skips, start: float) -> int:
        from mer_ray.infra.atomic import write_text
        from mer_ray.spotting.intervals import evaluate_spotting
        from mer_ray.spotting.methods import DESCRIPTIONS, FoldOutcome
        from mer_ray.spotting.report import (
            format_megc,
            per_subject,
            report_markdown,
            timeline_png,
            write_intervals_csv,
        )

        folds = [json.loads(p.read_text()) for p in sorted((folder.root / "folds").glob("*.json"))]
        outcomes = [FoldOutcome.from_dict(f) for f in folds]
        spotted = {k: v for o in outcomes for k, v in o.intervals.items()}
        missing = sorted(set(subject_of.values()) - {o.subject for o in outcomes})
        truth = {k: data.truth.get(k, []) for k in spotted}
        result = evaluate_spotting(spotted, truth)
        write_intervals_csv(folder.file("intervals.csv"), spotted, truth, subject_of, data.fps)
        timelines = []
        if spec.get("timelines", True):
            for o in outcomes:
                for key in sorted(o.intervals):
                    name = f"timelines/{_video_file(key)}.png"
                    timeline_png(folder.file(name), f"{key} (held out; spotter '{spec['search']}')",
                                 o.curves.get(key, {}), truth[key], o.intervals[key], data.fps,
                                 int(summaries[key].frame_numbers[0]))
                    timelines.append(name)
        counts = {kind: sum(g.kind == kind for gs in truth.values() for g in gs) for kind in ("micro", "macro")}
        seconds = time.monotonic() - start
        text = report_markdown(search=spec["search"], description=DESCRIPTIONS[spec["search"]],
                               dataset=data.dataset if spec["dataset"] != "demo" else f"long-video demo "
                               f"({spec['demo_size']}, seed {spec['seed']})", root=str(data.root), fps=data.fps,
                               result=result, subjects=per_subject(spotted, truth, subject_of), folds=folds,
                               skips=skips + [f"fold {s}: no result (trial failed)" for s in missing],
                               n_videos=len(spotted), truth_counts=counts, seconds=seconds, timelines=timelines)
        write_text(folder.report, text)
        print()
        print(format_megc(result))
        print(f"\nreport: {folder.report}  ({seconds:.0f} s)")
        if missing:
            print(f"folds without a result: {', '.join(missing)} (re-run with --resume {folder.root})",
                  file=sys.stderr)
            return 1
        return 0

    def stopped(self, stop) -> int:
        """After SIGINT / SIGTERM: shut Ray down, say how to continue, return 128 + signal."""
        from mer_ray.infra.runtime import shutdown_ray_after_interrupt

        shutdown_ray_after_interrupt()
        folder = self.folder
        if folder is not None and folder.run_json.is_file():
            n = len(list((folder.root / "folds").glob("*.json")))
            print(f"interrupted ({stop.name}): {n} finished folds kept in {folder.root}; continue with: "
                  f"python -m mer_ray.spot --search {self.args.search} --resume {folder.root}", file=sys.stderr,
                  flush=True)
        else:
            print(f"interrupted ({stop.name}) before a run folder was made: run the same command again",
                  file=sys.stderr, flush=True)
        return stop.exit_code
