"""Leave-one-subject-out evaluation of the baseline spotter: thresholds chosen without the held-out subject.

For each subject: the micro and macro thresholds ``p`` (and the smoothing width) are chosen by pooled F1 on the
OTHER subjects' videos (macro first, on macro F1; then micro, on overall F1 with that macro setting); the held-out
subject's videos are spotted with them; TP / FP / FN are pooled over all folds (MEGC's pooled counts). Scores
(``scores.video_scores``) do not depend on the thresholds, so each video's flow is computed once.

Command line (the measurement in docs/spotting.md)::

    python -m mer_ray.spotting.evaluate --subjects 4 --seconds 20 --seed 0 [--root DIR] [--method dis]

generates the long-video demo (``preprocessing.long_videos.demo``) unless ``--root`` holds one, then prints the
LOSO figures and the time per minute of video of each stage as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mer_ray.spotting.baseline import SpotterConfig, spot_both
from mer_ray.spotting.intervals import Interval, SpottingResult, evaluate_spotting
from mer_ray.spotting.scores import ScoreConfig, VideoMotion, video_scores

P_GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
SMOOTH_GRID = (1, 3, 5)


@dataclass
class Fold:
    subject: str
    micro: SpotterConfig
    macro: SpotterConfig
    train_f1: float


def spot_all(motions: Mapping[str, VideoMotion], keys: Sequence[str], micro: SpotterConfig, macro: SpotterConfig,
              top: int) -> dict[str, list[Interval]]:
    """Spotted intervals of ``keys`` with one micro and one macro setting (``motions``: anything with
    ``scores(k, top)`` and ``frame_numbers``: a ``VideoMotion`` or a ``data.MotionSummary``)."""
    out = {}
    for key in keys:
        m = motions[key]
        first = int(m.frame_numbers[0]) if m.frame_numbers.size else 1
        out[key] = spot_both(m.scores(micro.k, top), m.scores(macro.k, top), micro, macro, first)
    return out


def choose(motions: Mapping[str, VideoMotion], truth: Mapping[str, list[Interval]], keys: Sequence[str],
           micro: SpotterConfig, macro: SpotterConfig, top: int, p_grid: Sequence[float] = P_GRID,
           smooth_grid: Sequence[int] = SMOOTH_GRID) -> tuple[SpotterConfig, SpotterConfig, float]:
    """The micro and macro settings with the best pooled F1 on ``keys`` (training videos only)."""
    sub_truth = {k: truth[k] for k in keys}
    never = micro.with_(p=1.0, min_score=float("inf"))  # a micro spotter that finds nothing
    best_macro, best = macro, -1.0
    for p in p_grid:
        for w in smooth_grid:
            candidate = macro.with_(p=p, smooth=w)
            f1 = evaluate_spotting(spot_all(motions, keys, never, candidate, top), sub_truth).macro.f1
            if f1 > best:
                best_macro, best = candidate, f1
    best_micro, best = micro, -1.0
    for p in p_grid:
        for w in smooth_grid:
            candidate = micro.with_(p=p, smooth=w)
            f1 = evaluate_spotting(spot_all(motions, keys, candidate, best_macro, top), sub_truth).overall.f1
            if f1 > best:
                best_micro, best = candidate, f1
    return best_micro, best_macro, best


def loso(motions: Mapping[str, VideoMotion], truth: Mapping[str, list[Interval]], subject_of: Mapping[str, str],
         micro: SpotterConfig, macro: SpotterConfig, top: int = 4) -> tuple[SpottingResult, list[Fold]]:
    """Pooled LOSO result of the baseline spotter and each fold's chosen settings."""
    subjects = sorted(set(subject_of.values()))
    spotted: dict[str, list[Interval]] = {}
    folds = []
    for subject in subjects:
        train = [k for k in motions if subject_of[k] != subject]
        test = [k for k in motions if subject_of[k] == subject]
        mi, ma, f1 = choose(motions, truth, train, micro, macro, top)
        folds.append(Fold(subject, mi, ma, f1))
        spotted.update(spot_all(motions, test, mi, ma, top))
    return evaluate_spotting(spotted, {k: truth[k] for k in motions}), folds


def demo_measurement(root: Path, config: ScoreConfig, fps: int = 30) -> dict:
    """Scores, LOSO figures and timings of the long-video demo at ``root``."""
    from preprocessing.long_videos.sheets import read_casme2_long
    from preprocessing.vision.alignment import AlignConfig, FaceAligner

    data = read_casme2_long(root / "CAS(ME)^2code_final.xlsx", root)
    truth = {key: [Interval(i.onset, i.offset, i.kind, i.emotion) for i in items]
             for key, items in data.by_video().items()}
    aligner = FaceAligner(AlignConfig(size=config.size, margin=config.margin, upsample=0))
    motions, stage = {}, {"read": 0.0, "align": 0.0, "flow": 0.0, "cells": 0.0, "wall": 0.0}
    frames = 0
    for key, info in sorted(data.videos.items()):
        motions[key] = video_scores(Path(info["folder"]), config, aligner)
        frames += info["n_frames"]
        for name, value in motions[key].seconds.items():
            stage[name] += value
    micro = SpotterConfig.micro_for(fps, k=config.ks[0])
    macro = SpotterConfig.macro_for(fps, k=config.ks[-1])
    start = time.process_time()
    result, folds = loso(motions, truth, {k: v["subject"] for k, v in data.videos.items()}, micro, macro,
                         config.top)
    search = time.process_time() - start
    minutes = frames / fps / 60
    return {
        "videos": len(motions), "subjects": len({v["subject"] for v in data.videos.values()}),
        "minutes_of_video": round(minutes, 3),
        "intervals": {kind: sum(i.kind == kind for items in truth.values() for i in items) for kind in ("micro",
                                                                                                      "macro")},
        "skips": [str(s) for s in data.skips],
        "loso": {kind: {k: round(v, 3) if isinstance(v, float) else v for k, v in counts.items()}
                 for kind, counts in result.as_dict().items()},
        "folds": [{"subject": f.subject, "micro_p": f.micro.p, "micro_smooth": f.micro.smooth, "macro_p": f.macro.p,
                   "macro_smooth": f.macro.smooth, "train_f1": round(f.train_f1, 3)} for f in folds],
        # CPU seconds per minute of video (the machine may be shared); "scores_wall": wall seconds of the scores
        "seconds_per_minute_of_video": {("scores_wall" if name == "wall" else name): round(value / minutes, 2)
                                        for name, value in stage.items()}
        | {"loso_threshold_search_all_folds": round(search / minutes, 2)},
        "score_config": {"ks": list(config.ks), "method": config.method, "size": config.size, "grid": config.grid,
                         "top": config.top, "mask_eyes": config.mask_eyes},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mer_ray.spotting.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, help="an existing long-video demo (default: generate one)")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--videos", type=int, default=1, help="videos per subject")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="dis", help="flow method: dis, farneback or tvl1")
    args = parser.parse_args(argv)
    from preprocessing.long_videos.demo import generate_long_demo

    with tempfile.TemporaryDirectory() as scratch:
        root, generate_s = args.root, None
        if root is None or not (root / "demo.json").is_file():
            root = root or Path(scratch) / "long_demo"
            start, cpu = time.perf_counter(), time.process_time()
            generate_long_demo(root, seed=args.seed, n_subjects=args.subjects, videos_per_subject=args.videos,
                               seconds=args.seconds)
            generate_s, generate_cpu = time.perf_counter() - start, time.process_time() - cpu
        report = demo_measurement(root, ScoreConfig(method=args.method))
        if generate_s is not None:
            report["seconds_per_minute_of_video"]["demo_generation"] = round(
                generate_cpu / report["minutes_of_video"], 2)
            report["seconds_per_minute_of_video"]["demo_generation_wall"] = round(
                generate_s / report["minutes_of_video"], 2)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
