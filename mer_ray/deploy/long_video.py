"""Spot and recognise long recordings: ``python -m mer_ray.predict --model BUNDLE --long VIDEO... --out OUT``.

Per video: ``spotting.stream.score_video_file`` (decode once, track the face, align, DIS flow ``k`` frames apart,
the flow-contrast score), the MEGC baseline spotter (``spotting.baseline.spot_both``) with :class:`SpotSettings`
(defaults, or the median of a finished ``mer_ray.spot`` baseline run's fold choices: ``--spot-run RUN``), and the
(onset, apex) pair of every spotted interval classified by the bundle exactly like a pre-cut clip (the pair's raw
frames, lossless, through ``clip_inputs.process_inputs`` with the bundle's preprocessing). The apex is the peak of
the smoothed score inside the interval. Outputs in OUT/: ``<NNNN_video>.csv`` / ``.json`` (one row per interval
and per faceless stretch), ``videos.csv`` / ``.json`` (one row per video: status, stage seconds), and with
``--explain DIR`` a timeline PNG per video.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TOP = 4  # cells averaged into the score (the spotting runs' value)


@dataclass(frozen=True)
class SpotSettings:
    """The baseline spotter's thresholds (``T = mean + p (max - mean)``) and smoothing widths (frames at ``fps``)."""

    micro_p: float = 0.5
    micro_smooth: int = 3
    macro_p: float = 0.5
    macro_smooth: int = 5
    fps: float = 30.0
    source: str = "defaults"

    def spotters(self, fps: float):
        from mer_ray.spotting.baseline import SpotterConfig

        def scale(width: int) -> int:
            return max(1, int(round(width * fps / self.fps)) | 1)

        return (SpotterConfig.micro_for(fps, p=self.micro_p, smooth=scale(self.micro_smooth)),
                SpotterConfig.macro_for(fps, p=self.macro_p, smooth=scale(self.macro_smooth)))

    def describe(self) -> str:
        return (f"micro p {self.micro_p:g} smooth {self.micro_smooth}, macro p {self.macro_p:g} smooth "
                f"{self.macro_smooth} (frames at {self.fps:g} fps) from {self.source}")


def settings_from_run(run: str | Path) -> SpotSettings:
    """The median of the folds' choices of a finished ``python -m mer_ray.spot --search baseline`` run."""
    from mer_ray.infra.errors import UsageError

    run = Path(run).expanduser()
    spec_path, folds = run / "run.json", sorted((run / "folds").glob("*.json"))
    spec = json.loads(spec_path.read_text()) if spec_path.is_file() else {}
    if spec.get("kind") != "spot":
        raise UsageError(f"--spot-run {run}: not a spotting run folder (no run.json with kind 'spot')")
    if spec.get("search") != "baseline":
        raise UsageError(f"--spot-run {run}: a '{spec.get('search')}' run keeps no fitted spotter; give a run of "
                         "--search baseline")
    if not folds:
        raise UsageError(f"--spot-run {run}: no finished fold (folds/*.json)")
    chosen = [json.loads(p.read_text())["settings"] for p in folds]

    def median(key: str) -> float:
        return sorted(c[key] for c in chosen)[len(chosen) // 2]

    return SpotSettings(micro_p=median("micro_p"), micro_smooth=int(median("micro_smooth")),
                        macro_p=median("macro_p"), macro_smooth=int(median("macro_smooth")),
                        fps=200.0 if spec.get("dataset") == "samm" else 30.0,
                        source=f"{run} (median over its {len(chosen)} folds)")


def smoothed(raw: np.ndarray, config) -> tuple[np.ndarray, float]:
    """The score the spotter thresholds (``baseline.spot``'s smoothing; NaN kept) and its threshold."""
    from mer_ray.spotting.baseline import relative_threshold, smooth

    raw = np.asarray(raw, dtype=np.float64)
    finite = np.isfinite(raw)
    curve = smooth(np.where(finite, raw, np.nanmin(raw) if finite.any() else 0.0), config.smooth)
    curve[~finite] = np.nan
    return curve, max(relative_threshold(curve, config.p, config.k), config.min_score)


def spot_scores(scores, settings: SpotSettings) -> tuple[list[dict], dict[str, dict]]:
    """Intervals ``{type, onset, apex, offset, spot_score}`` of a ``StreamScores`` and per kind the curve and
    threshold (for the timeline)."""
    from mer_ray.spotting.baseline import spot_both

    micro, macro = settings.spotters(scores.fps)
    raw = {"micro": scores.motion.scores(micro.k, TOP), "macro": scores.motion.scores(macro.k, TOP)}
    curves = {}
    for kind, config in (("micro", micro), ("macro", macro)):
        curve, threshold = smoothed(raw[kind], config)
        curves[kind] = {"curve": curve, "threshold": threshold, "k": config.k}
    spans = []
    for i in spot_both(raw["micro"], raw["macro"], micro, macro, first_frame=0):
        inside = np.nan_to_num(curves[i.kind]["curve"][i.onset:i.offset + 1], nan=-np.inf)
        spans.append({"type": i.kind, "onset": i.onset, "apex": i.onset + int(np.argmax(inside)), "offset": i.offset,
                      "spot_score": round(float(i.score), 5)})
    return spans, curves


def recognise(bundle, video: str | Path, spans: list[dict], work: Path, device: str = "cpu") -> list[dict]:
    """Class and scores of each span's (onset, apex) pair, as ``predict`` classifies a pre-cut clip."""
    import cv2

    from mer_ray.spotting.stream import read_frames_at

    frames = read_frames_at(video, {n for s in spans for n in (s["onset"], s["apex"])})
    pairs = []
    for index, span in enumerate(spans):
        paths = []
        for number in (span["onset"], span["apex"]):
            paths.append(work / f"{index:04d}_{number}.png")
            if number in frames:
                cv2.imwrite(str(paths[-1]), frames[number], [cv2.IMWRITE_PNG_COMPRESSION, 1])
        pairs.append((f"{video} [{span['onset']}, {span['apex']}]", span["onset"], span["apex"], *paths))
    return classify_pairs(bundle, pairs, work, device, missing="the onset or apex frame could not be decoded again")


def classify_pairs(bundle, pairs: list[tuple[str, int, int, Path, Path]], work: Path, device: str = "cpu", *,
                   missing: str = "the onset or apex frame is missing") -> list[dict]:
    """Class and scores of each ``(name, onset, apex, onset image, apex image)``, as ``predict`` classifies an
    onset / apex pair (the bundle's preprocessing exactly); a pair whose images are missing is "not recognised"."""
    from mer_ray.deploy.prediction import _feature_set
    from preprocessing.annotations.sample import Sample
    from preprocessing.clip_inputs import DATASET, ClipInput, process_inputs
    from preprocessing.vision.clip import SequenceConfig

    items = []
    for index, (name, onset, apex, *paths) in enumerate(pairs):
        if not all(Path(p).is_file() for p in paths):
            items.append(ClipInput(name, "video").skip("read", missing))
            continue
        sample = Sample(DATASET, DATASET, f"{index:04d}_interval", "", onset, apex, apex,
                        tuple(str(p) for p in paths), (onset, apex))
        items.append(ClipInput(name, "video", sample=sample, frames=2))
    config = replace(bundle.preprocess, sequence=SequenceConfig(frames=0))  # as predict: the frame stack is unused
    outcomes = process_inputs(items, config, work, use_ray=False)
    done = [o for o in outcomes if o.ok]
    predicted = dict(zip(map(id, done), zip(*bundle.predict(_feature_set(done), device)))) if done else {}
    out = []
    for outcome in outcomes:
        if outcome.ok:
            label, scores = predicted[id(outcome)]
            out.append({"class": bundle.labels[int(label)], "status": "ok", "reason": "",
                        **{f"score_{n}": round(float(s), 5) for n, s in zip(bundle.labels, scores)}})
        else:
            out.append({"class": None, "status": "not recognised", "reason": f"{outcome.reason} ({outcome.stage})"})
    return out


def video_table(spans: list[dict], classes: list[dict], faceless, fps: float, labels: list[str],
                score_kind: str) -> pd.DataFrame:
    """One row per interval and per faceless stretch, by onset; frames from 0, seconds = frame / fps."""
    rows = [{**s, **c, "score_kind": score_kind} for s, c in zip(spans, classes)]
    rows += [{"type": "no face", "onset": f.start, "apex": None, "offset": f.end, "spot_score": None, "class": None,
              "status": "no face", "reason": f.reason} for f in faceless]
    columns = ["type", "onset", "apex", "offset", "onset_s", "apex_s", "offset_s", "spot_score", "class",
               *[f"score_{n}" for n in labels], "score_kind", "status", "reason"]
    table = pd.DataFrame(rows, columns=columns).sort_values("onset", kind="stable").reset_index(drop=True)
    for name in ("onset", "apex", "offset"):
        table[f"{name}_s"] = (table[name] / fps).round(3)
    return table.astype({"onset": "Int64", "apex": "Int64", "offset": "Int64"})


def spot_and_recognise(bundle, video: str, index: int, out: Path, settings: SpotSettings, *, score_config=None,
                       track=None, aligner=None, explain: Path | None = None, device: str = "cpu") -> dict[str, Any]:
    """One video end to end; returns its ``videos.csv`` row (``status`` ok or skipped with ``reason``)."""
    from mer_ray.deploy.prediction import write_table
    from mer_ray.spotting.stream import VideoError, score_video_file
    from preprocessing.clip_inputs import _clip_name

    start = time.perf_counter()
    row: dict[str, Any] = {"video": video, "status": "skipped", "reason": ""}
    try:
        scores = score_video_file(video, score_config, track, aligner)
    except VideoError as err:
        return {**row, "reason": str(err)}
    t_spot = time.perf_counter()
    spans, curves = spot_scores(scores, settings)
    t_rec = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mer_ray_long_") as work:
        classes = recognise(bundle, video, spans, Path(work), device) if spans else []
    t_end = time.perf_counter()
    table = video_table(spans, classes, scores.faceless, scores.fps, bundle.labels, bundle.score_kind)
    name = _clip_name(index, video)
    csv_path, _ = write_table(table, out / name)
    row.update(status="ok", fps=scores.fps, frames=scores.frames, duration_s=round(scores.frames / scores.fps, 3),
               intervals=len(spans), recognised=sum(c["status"] == "ok" for c in classes),
               faceless_stretches=len(scores.faceless), face_checks=scores.checks, alignments=scores.refits,
               warnings="; ".join(scores.warnings), table=str(csv_path), timeline=None)
    if explain is not None:
        from mer_ray.deploy.timeline import long_timeline_png

        row["timeline"] = str(long_timeline_png(explain / f"{name}.png", f"{video}: {settings.describe()}", curves,
                                                table, scores.fps))
    stages = {**scores.seconds, "spot": t_rec - t_spot, "recognise": t_end - t_rec}
    row.update({f"{k}_s": round(v, 3) for k, v in stages.items()})
    row["total_s"] = round(time.perf_counter() - start, 3)
    return row


def print_video(row: dict, table: pd.DataFrame | None, labels: list[str]) -> None:
    if row["status"] != "ok":
        return
    print(f"{row['video']}: {row['frames']} frames at {row['fps']:g} fps ({row['duration_s']:.1f} s); "
          f"{row['intervals']} intervals, {row['faceless_stretches']} faceless stretches; {row['total_s']:.1f} s"
          + (f"; warnings: {row['warnings']}" if row["warnings"] else ""))
    if table is None or table.empty:
        return
    head = f"  {'type':7} {'onset':>6} {'apex':>6} {'offset':>6} {'onset_s':>8} {'apex_s':>7} {'offset_s':>8} " \
           f"{'score':>6}  {'class':9} " + " ".join(f"{n[:8]:>8}" for n in labels)
    print(head)
    for r in table.to_dict("records"):
        def cell(value, fmt: str, width: int) -> str:
            return format(value, fmt).rjust(width) if value is not None and not pd.isna(value) else "-".rjust(width)

        scores = " ".join(cell(r.get(f"score_{n}"), ".3f", 8) for n in labels)
        what = r["class"] if r["status"] == "ok" else r["reason"] if r["status"] == "no face" else "not recognised"
        print(f"  {r['type']:7} {cell(r['onset'], 'd', 6)} {cell(r['apex'], 'd', 6)} {cell(r['offset'], 'd', 6)} "
              f"{cell(r['onset_s'], '.3f', 8)} {cell(r['apex_s'], '.3f', 7)} {cell(r['offset_s'], '.3f', 8)} "
              f"{cell(r['spot_score'], '.3f', 6)}  {what:9} " + ("" if r["status"] == "no face" else scores))


def long_command(args) -> int:
    """``predict --long``: every video in turn (a bad one is one line on stderr; the others go on). 0 when at
    least one video was spotted, 1 when none could be."""
    from mer_ray.deploy.bundle_load import load_bundle
    from mer_ray.deploy.prediction import write_table
    from mer_ray.infra.errors import UsageError
    from mer_ray.spotting.scores import ScoreConfig
    from mer_ray.spotting.stream import TrackConfig
    from preprocessing.clip_inputs import expand_inputs

    if args.inputs or args.onset or args.apex or args.onset_frame is not None or args.apex_frame is not None:
        raise UsageError("--long takes the videos itself: give clip INPUTs, --onset / --apex and --onset-frame / "
                         "--apex-frame in a separate command")
    settings = settings_from_run(args.spot_run) if args.spot_run else SpotSettings()
    overrides = {k: v for k, v in (("micro_p", args.micro_p), ("macro_p", args.macro_p)) if v is not None}
    if overrides:
        settings = replace(settings, **overrides, source=settings.source + " with " + ", ".join(
            f"{k}={v:g}" for k, v in overrides.items()))
    for key, value in (("micro_p", settings.micro_p), ("macro_p", settings.macro_p)):
        if not 0 <= value <= 1:
            raise UsageError(f"--{key.replace('_', '-')} {value:g}: expected a fraction in [0, 1]")
    bundle = load_bundle(args.model, args.device)
    if bundle.task != "emotion":  # the interval tables and timelines are the emotion classes'
        raise UsageError(f"--long spots intervals and classifies each with an emotion bundle; {args.model} is an AU "
                         "detection bundle (task 'au'): give the spotted intervals' clips to predict without --long, "
                         "or use an emotion bundle")
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    videos = [path for path, _ in expand_inputs(args.long)]
    print(f"spotting settings: {settings.describe()}; flow {args.flow}", flush=True)
    from preprocessing.vision.alignment import AlignConfig, FaceAligner

    score_config = ScoreConfig(method=args.flow)
    aligner = FaceAligner(AlignConfig(size=score_config.size, margin=score_config.margin, upsample=0))
    rows = []
    for index, video in enumerate(videos):
        row = spot_and_recognise(bundle, video, index, out, settings, score_config=score_config,
                                 track=TrackConfig(check_every=args.check_every), aligner=aligner,
                                 explain=args.explain, device=args.device)
        if row["status"] != "ok":
            print(f"skipped {video}: {row['reason']}", file=sys.stderr, flush=True)
        elif row["warnings"]:
            print(f"warning {video}: {row['warnings']}", file=sys.stderr, flush=True)
        print_video(row, pd.read_csv(row["table"]) if row.get("table") else None, bundle.labels)
        rows.append(row)
    summary = pd.DataFrame(rows)
    csv_path, _ = write_table(summary, out / "videos")
    print(f"tables: {out}/ ({csv_path.name} lists the videos)" + (f"; timelines: {args.explain}" if args.explain
                                                                    else ""))
    return 0 if (summary["status"] == "ok").any() else 1
