"""Spot-then-recognise score of a finished spotting run (MEGC2023 STRS):
``python -m mer_ray.spotting.recognise RUN --model BUNDLE``.

Every spotted interval in RUN's ``intervals.csv`` is classified by BUNDLE from two frames of the recording, exactly
as ``predict`` classifies an onset / apex pair: the interval's onset frame and its middle frame as the apex (the
spotters place their windows around the score's peak; ``predict --long`` uses the peak itself). The classes are
then scored with :func:`mer_ray.spotting.intervals.evaluate_str` against the annotated emotions: analysis over the
spotting TPs whose true emotion is one of the bundle's classes (CAS(ME)^2's "others" is not analysed), and
``STRS = F1_spotting x F1_analysis``. MEGC2023 scores micro-expressions; ``--kinds all`` scores both kinds.

The bundle must not have been trained on the recordings' subjects (a bundle fitted on the recognition demo has
not seen the long-video demo's subjects). Writes ``RUN/str.md`` and ``RUN/str_intervals.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from mer_ray.infra.errors import UsageError
from mer_ray.spotting.intervals import Interval, STRResult, evaluate_str


def read_spotted(run: Path) -> dict[str, list[Interval]]:
    """Video id -> the run's spotted intervals (``intervals.csv``), in file order."""
    path = run / "intervals.csv"
    if not path.is_file():
        raise UsageError(f"{run}: no intervals.csv (not a finished spotting run folder)")
    spotted: dict[str, list[Interval]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            spotted.setdefault(row["video"], []).append(
                Interval(int(row["onset"]), int(row["offset"]), row["kind"] or None, score=float(row["score"])))
    return spotted


def run_data(run: Path):
    """The run's long videos and annotations (:class:`mer_ray.spotting.data.SpotData`), as the run read them."""
    from mer_ray.spotting.data import load_long_videos, long_demo_root

    path = run / "run.json"
    spec = json.loads(path.read_text()) if path.is_file() else {}
    if spec.get("kind") != "spot":
        raise UsageError(f"{run}: not a spotting run folder (run.json has no kind 'spot')")
    if spec["dataset"] == "demo":
        return load_long_videos("casme2", long_demo_root(spec["demo_size"], spec["seed"]))
    return load_long_videos(spec["dataset"], spec["root"])


def recognise_spotted(bundle, spotted: dict[str, list[Interval]], videos: dict, work: Path,
                      kinds: set[str] | None) -> tuple[dict[str, list[Interval]], list[dict]]:
    """The spotted intervals with the bundle's class as ``emotion`` (``None`` where not recognised), and a row per
    interval for ``str_intervals.csv``."""
    from dataclasses import replace

    from mer_ray.deploy.long_video import classify_pairs
    from mer_ray.spotting.scores import frame_files

    todo = [(key, i, s) for key in sorted(spotted) for i, s in enumerate(spotted[key])
            if kinds is None or s.kind is None or s.kind in kinds]
    frames = {key: dict(frame_files(videos[key]["folder"])) for key in {k for k, _, _ in todo}
              if videos.get(key, {}).get("folder")}
    pairs = []
    for key, _, s in todo:
        apex = (s.onset + s.offset) // 2
        files = frames.get(key, {})
        pairs.append((f"{key} [{s.onset}, {apex}]", s.onset, apex, files.get(s.onset, work / "missing"),
                      files.get(apex, work / "missing")))
    classes = classify_pairs(bundle, pairs, work, missing="the onset or middle frame is not in the video's folder")
    out = {key: list(items) for key, items in spotted.items()}
    rows = []
    for (key, i, s), (_, _, apex, _, _), result in zip(todo, pairs, classes):
        out[key][i] = replace(s, emotion=result["class"])
        rows.append({"video": key, "kind": s.kind, "onset": s.onset, "apex": apex, "offset": s.offset,
                     "class": result["class"], "status": result["status"], "reason": result["reason"]})
    return out, rows


def str_report(result: STRResult, classes: list[str], kinds: str, bundle_path: str, n_recognised: int,
               n_spotted: int) -> str:
    """``str.md``: the spotting counts, the analysis per emotion and STRS."""
    sp = result.spotting
    lines = ["# Spot-then-recognise (MEGC2023 STRS)", "",
             f"Bundle: `{bundle_path}`. Intervals scored: {kinds}. {n_recognised} of {n_spotted} spotted intervals "
             "recognised (onset frame + middle frame as the apex).", "",
             "| spotting TP | FP | FN | precision | recall | F1 |", "|---|---|---|---|---|---|",
             f"| {sp.tp} | {sp.fp} | {sp.fn} | {sp.precision:.3f} | {sp.recall:.3f} | {sp.f1:.3f} |", "",
             "Analysis over the spotting TPs whose true emotion is one of the bundle's classes "
             f"({', '.join(classes)}):", "",
             "| emotion | TP | FP | FN | F1 |", "|---|---|---|---|---|"]
    for emotion, c in result.analysis.items():
        lines.append(f"| {emotion} | {c.tp} | {c.fp} | {c.fn} | {c.f1:.3f} |")
    lines += ["", f"Analysis F1 {result.f1:.3f} (UF1 {result.uf1:.3f}, UAR {result.uar:.3f}); "
              f"**STRS = {sp.f1:.3f} x {result.f1:.3f} = {result.strs:.3f}**", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The CLI: one ``error:`` line and exit status 2 for a user error (a folder that is not a finished spotting
    run, an AU bundle)."""
    args = build_parser().parse_args(argv)
    from mer_ray.infra.errors import run_cli
    from preprocessing.annotations.sample import DatasetError

    return run_cli(lambda: score_run(args), user_errors=(DatasetError,))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mer_ray.spotting.recognise", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="a finished `python -m mer_ray.spot` run folder")
    p.add_argument("--model", required=True, help="an emotion model bundle (`python -m mer_ray.fit`)")
    p.add_argument("--kinds", choices=("micro", "all"), default="micro",
                   help="micro (MEGC2023's STR task, the default) or all (micro and macro)")
    return p


def score_run(args: argparse.Namespace) -> int:
    """Classify the run's spotted intervals, score them, write ``str.md`` and ``str_intervals.csv``."""
    from mer_ray.deploy.bundle_load import load_bundle
    from mer_ray.infra.atomic import write_text

    run = args.run.expanduser()
    spotted = read_spotted(run)
    data = run_data(run)
    bundle = load_bundle(args.model)
    if bundle.task != "emotion":
        raise UsageError(f"--model {args.model} detects AUs; spot-then-recognise needs an emotion bundle")
    kinds = {"micro"} if args.kinds == "micro" else None
    with tempfile.TemporaryDirectory(prefix="mer-ray-str-") as tmp:
        labelled, rows = recognise_spotted(bundle, spotted, data.videos, Path(tmp), kinds)
    truth_emotions = {g.emotion for gs in data.truth.values() for g in gs}
    classes = [c for c in bundle.labels if c in truth_emotions]
    skipped = {line.split(":")[0] for line in json.loads((run / "skips.json").read_text())} \
        if (run / "skips.json").is_file() else set()
    truth = {key: data.truth.get(key, []) for key in data.videos if key not in skipped}
    labelled = {key: labelled.get(key, []) for key in truth}
    result = evaluate_str(labelled, truth, emotions=classes, kinds=kinds)
    report = str_report(result, classes, args.kinds, str(args.model), sum(r["status"] == "ok" for r in rows),
                        len(rows))
    write_text(run / "str.md", report)
    with open(run / "str_intervals.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["video", "kind", "onset", "apex", "offset", "class", "status",
                                               "reason"])
        writer.writeheader()
        writer.writerows(rows)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
