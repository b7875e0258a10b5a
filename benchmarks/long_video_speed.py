"""Spot and recognise a one-minute 30 fps 640x480 recording end to end; per-stage seconds against the 2-minute goal.

    python benchmarks/long_video_speed.py --model BUNDLE          # 60 s recording, TV-L1 compared on all of it
    python benchmarks/long_video_speed.py --quick                 # 8 s recording, TV-L1 compared on its first 2 s

The recording is the long-video demo (``preprocessing.long_videos.demo``) rendered at 640x480 (one subject, face
box 150-190 px, blinks, speech, head moves, micro- and macro-expressions with known frames), written as an mp4
(mp4v). ``mer_ray.deploy.long_video.spot_and_recognise`` runs on it exactly as ``predict --long`` does: decode,
detect / track / align (dlib every 0.5 s), flow (DIS, the default), scoring (cells + the baseline spotter) and
recognition (each interval's onset / apex pair through the bundle's preprocessing and model). Wall seconds per
stage; the machine may be shared (the load average is printed).

Then the flow is swapped: the same recording scored with TV-L1 (the recognition flow) and Farneback, timed, and
compared with DIS: correlation of the micro / macro score curves, the intervals each finds (IoU >= 0.5 matching
with DIS's), and each one's spotting F1 against the demo's truth. Without ``--model`` a bundle of the ``ensemble``
configuration with fresh weights is used (timing only: latency does not depend on the weights; its classes mean
nothing), and said so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, print_table  # noqa: E402

GOAL_S = 120.0


def make_recording(folder: Path, seconds: float, seed: int = 3) -> tuple[Path, list]:
    """The long-video demo at 640x480 as ``folder/recording.mp4`` and its truth intervals (frames from 0)."""
    import cv2

    from mer_ray.spotting.intervals import Interval
    from preprocessing.long_videos.demo import generate_long_demo
    from preprocessing.long_videos.sheets import read_casme2_long

    demo = folder / "demo"
    if not (demo / "demo.json").is_file():
        generate_long_demo(demo, seed=seed, n_subjects=1, videos_per_subject=1, seconds=seconds, height=480,
                           width=640, face_size=(150.0, 190.0))
    data = read_casme2_long(demo / "CAS(ME)^2code_final.xlsx", demo)
    [(key, info)] = data.videos.items()
    truth = [Interval(i.onset - 1, i.offset - 1, i.kind) for i in data.by_video().get(key, [])]  # img1 = frame 0
    video = folder / "recording.mp4"
    if not video.is_file():
        from mer_ray.spotting.scores import frame_files

        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
        for _, path in frame_files(info["folder"]):
            writer.write(cv2.imread(str(path)))
        writer.release()
    return video, truth


def load_model(path: str | None):
    if path:
        from mer_ray.deploy.bundle_load import load_bundle

        return load_bundle(path), f"bundle {path}"
    from predict_latency import untrained_bundle

    from preprocessing.vision.clip import PreprocessConfig

    return untrained_bundle("ensemble", PreprocessConfig()), "the ensemble configuration with FRESH weights " \
                                                              "(timing only; its classes mean nothing)"


def compare_flows(video: Path, truth: list, settings, max_frames: int | None, dis_spans: list, dis_curves: dict):
    """Each flow's scoring time, agreement with DIS and spotting F1 against the truth (over ``max_frames``)."""
    from mer_ray.deploy.long_video import spot_scores
    from mer_ray.spotting.intervals import Interval, evaluate_spotting
    from mer_ray.spotting.scores import ScoreConfig
    from mer_ray.spotting.stream import score_video_file

    def as_intervals(spans):
        return [Interval(s["onset"], s["offset"], s["type"]) for s in spans]

    results = {}
    for method in ("dis", "farneback", "tvl1"):
        scores = score_video_file(video, ScoreConfig(method=method), max_frames=max_frames)
        spans, curves = spot_scores(scores, settings)
        if method == "dis":
            dis_spans, dis_curves = spans, curves
        n = scores.frames
        corr = {}
        for kind in ("micro", "macro"):
            a, b = curves[kind]["curve"], dis_curves[kind]["curve"][:n]
            ok = np.isfinite(a) & np.isfinite(b)
            corr[kind] = float(np.corrcoef(a[ok], b[ok])[0, 1])
        seen = [t for t in truth if t.offset < n]
        vs_dis = evaluate_spotting({"v": as_intervals(spans)}, {"v": as_intervals(dis_spans)}).overall
        vs_truth = evaluate_spotting({"v": as_intervals(spans)}, {"v": seen}).overall
        results[method] = {"flow_s": scores.seconds["flow"], "pairs": int(sum(np.isfinite(c[:, 0, 0, 0]).sum()
                                                                             for c in scores.motion.cells.values())),
                           "corr": corr, "intervals": len(spans), "f1_vs_dis": vs_dis.f1, "f1_truth": vs_truth.f1,
                           "tp_truth": vs_truth.tp, "truth": len(seen), "frames": n}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a bundle (default: fresh weights of the ensemble configuration)")
    parser.add_argument("--quick", action="store_true", help="8 s recording, flows compared on its first 2 s")
    parser.add_argument("--work", type=Path, help="keep the recording here (reused when present)")
    parser.add_argument("--no-compare", action="store_true", help="skip the TV-L1 / Farneback comparison")
    args = parser.parse_args(argv)
    from mer_ray.deploy.long_video import SpotSettings, spot_and_recognise

    seconds = 8.0 if args.quick else 60.0
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        video, truth = make_recording(work, seconds)
        print(f"recording: {video} ({seconds:g} s, 640x480, 30 fps; made in {time.perf_counter() - t:.0f} s, "
              f"not timed below); {machine_line()}")
        t = time.perf_counter()
        bundle, what = load_model(args.model)
        load_s = time.perf_counter() - t
        print(f"model: {what}")
        settings = SpotSettings()
        start = time.perf_counter()
        row = spot_and_recognise(bundle, str(video), 0, work / "out", settings)
        total = time.perf_counter() - start
        assert row["status"] == "ok", row
        stages = [("decode", row["decode_s"]), ("detect / track / align", row["track_s"]),
                  ("flow (DIS, 2 distances)", row["flow_s"]), ("scoring (cells + spotter)", row["cells_s"]
                                                               + row["spot_s"]),
                  (f"recognition ({row['intervals']} intervals)", row["recognise_s"])]
        print_table(["stage", "wall s"], [[name, f"{value:.2f}"] for name, value in stages]
                    + [["**total (spot_and_recognise)**", f"**{total:.2f}**"], ["bundle load (once)", f"{load_s:.2f}"]],
                    title=f"End to end, {seconds:g} s recording ({row['frames']} frames; {row['face_checks']} face "
                          f"checks, {row['alignments']} alignment(s))")
        per_minute = total * 60.0 / seconds + load_s
        verdict = "met" if per_minute <= GOAL_S else "NOT met"
        scaled = "" if seconds == 60 else f" (scaled from {seconds:g} s)"
        print(f"\ngoal <= {GOAL_S:.0f} s for a one-minute recording: {per_minute:.1f} s{scaled}, with the bundle "
              f"load: {verdict}")
        if args.no_compare:
            return 0
        compare_frames = int(2 * 30) + 31 if args.quick else None
        results = compare_flows(video, truth, settings, compare_frames, [], {})
        rows = []
        for method, r in results.items():
            ms = 1000 * r["flow_s"] / max(r["pairs"], 1)
            rows.append([method, r["frames"], f"{r['flow_s']:.1f}", f"{ms:.2f}", f"{r['corr']['micro']:.3f}",
                         f"{r['corr']['macro']:.3f}", r["intervals"], f"{r['f1_vs_dis']:.2f}",
                         f"{r['tp_truth']} of {r['truth']}, F1 {r['f1_truth']:.2f}"])
        print_table(["flow", "frames", "flow s", "ms / pair", "corr micro score", "corr macro score", "intervals",
                     "interval F1 vs DIS", "truth found (IoU >= 0.5)"], rows,
                    title="Flow methods on the same recording (spotting settings: defaults)")
        tvl1 = results["tvl1"]["flow_s"] * (row["frames"] / results["tvl1"]["frames"])
        print(f"\nTV-L1 would make the flow stage {tvl1:.0f} s of this recording instead of {row['flow_s']:.1f} s "
              "(DIS): DIS is the default (--flow tvl1 / farneback choose another).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
