"""``python -m mer_ray.predict --long``: spotting and recognising long recordings (real dlib, DIS flow, bundle)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mer_ray.deploy.long_video import SpotSettings, settings_from_run, video_table
from mer_ray.infra.errors import UsageError
from mer_ray.spotting.stream import Stretch, VideoError, faceless_stretches, score_video_file
from preprocessing.annotations.frames import list_frames
from tests.mer_ray._demo_bundle import demo_bundle, first_clip

REPO = Path(__file__).resolve().parents[3]
PNG = b"\x89PNG\r\n\x1a\n"


def write_recording(path: Path, frames: list[np.ndarray], fps: float = 30.0, seed: int = 0) -> Path:
    """A webcam-like 640x480 mp4 (mp4v): each frame centred on a replicated border, sensor noise (sigma 2) added."""
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for frame in frames:
        h, w = frame.shape[:2]
        top, left = (480 - h) // 2, (640 - w) // 2
        big = cv2.copyMakeBorder(frame, top, 480 - h - top, left, 640 - w - left, cv2.BORDER_REPLICATE)
        writer.write(np.clip(big + rng.normal(0, 2, big.shape), 0, 255).astype(np.uint8))
    writer.release()
    return path


def clip_images(small_demo: Path, subject: str = "sub02") -> list[np.ndarray]:
    return [cv2.imread(p) for p in list_frames(first_clip(small_demo, subject)).paths]


# ---- fast: no bundle ---------------------------------------------------------------------------------------


def test_faceless_stretches_span_the_failed_checks():
    checks = [(0, ""), (15, ""), (30, "no face"), (45, "no face"), (60, ""), (75, "no face")]
    assert faceless_stretches(checks, 90) == [Stretch(16, 59, "no face (2 check(s))"),
                                              Stretch(61, 89, "no face (1 check(s))")]
    assert faceless_stretches([(0, "x"), (15, "")], 30) == [Stretch(0, 14, "x (1 check(s))")]


def test_a_stretch_without_a_face_is_marked_and_the_rest_is_scored(small_demo, tmp_path):
    face = clip_images(small_demo)[0]
    blank = np.full_like(face, 128)
    video = write_recording(tmp_path / "gap.mp4", [face] * 60 + [blank] * 30 + [face] * 60)
    scores = score_video_file(video)
    assert scores.frames == 150 and scores.fps == 30
    [gap] = scores.faceless
    assert gap.start <= 60 and 89 <= gap.end < 105 and gap.reason.startswith("no face found")
    assert scores.refits == 2  # fitted again when the face came back
    micro = scores.motion.scores(6, 4)
    assert np.isnan(micro[gap.start: gap.end + 1]).all()
    assert np.isfinite(micro[10:gap.start - 12]).all() and np.isfinite(micro[gap.end + 13: 140]).all()


def test_short_unreadable_and_missing_videos_are_named(small_demo, tmp_path):
    face = clip_images(small_demo)[0]
    with pytest.raises(VideoError, match=r"20 frames \(0.67 s\): shorter than the scoring window"):
        score_video_file(write_recording(tmp_path / "short.mp4", [face] * 20))
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(VideoError, match="unreadable video"):
        score_video_file(tmp_path / "text.mp4")
    with pytest.raises(VideoError, match="no such file"):
        score_video_file(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="no face found in any of"):
        score_video_file(write_recording(tmp_path / "grey.mp4", [np.full_like(face, 90)] * 40))


def test_a_truncated_video_is_spotted_as_far_as_it_decodes(small_demo, tmp_path):
    face = clip_images(small_demo)[0]
    writer = cv2.VideoWriter(str(tmp_path / "full.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, face.shape[1::-1])
    for _ in range(120):
        writer.write(face)
    writer.release()
    data = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: int(len(data) * 0.7)])
    scores = score_video_file(tmp_path / "cut.avi")
    assert 40 < scores.frames < 120
    assert scores.warnings == [f"truncated video: {scores.frames} of 120 frames decoded; spotted the decoded part"]


def test_spot_run_settings_are_the_folds_median(tmp_path):
    run = tmp_path / "run"
    (run / "folds").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"kind": "spot", "search": "baseline", "dataset": "demo"}))
    for i, (mp, ms, ap, sm) in enumerate([(0.1, 3, 0.2, 5), (0.3, 5, 0.1, 5), (0.2, 3, 0.4, 1)]):
        (run / "folds" / f"s{i}.json").write_text(json.dumps(
            {"settings": {"micro_p": mp, "micro_smooth": ms, "macro_p": ap, "macro_smooth": sm}}))
    settings = settings_from_run(run)
    assert (settings.micro_p, settings.micro_smooth, settings.macro_p, settings.macro_smooth) == (0.2, 3, 0.2, 5)
    micro, macro = settings.spotters(60.0)  # smoothing widths scale with the frame rate, odd
    assert (micro.smooth, macro.smooth, micro.k, macro.k) == (7, 11, 12, 30)
    (run / "run.json").write_text(json.dumps({"kind": "spot", "search": "learned"}))
    with pytest.raises(UsageError, match="keeps no fitted spotter"):
        settings_from_run(run)


def test_the_table_lists_intervals_and_faceless_stretches_in_frames_and_seconds():
    spans = [{"type": "micro", "onset": 40, "apex": 45, "offset": 49, "spot_score": 0.3}]
    classes = [{"class": "surprise", "status": "ok", "reason": "", "score_negative": 0.1, "score_positive": 0.2,
                "score_surprise": 0.7}]
    table = video_table(spans, classes, [Stretch(3, 20, "no face found")], 20.0,
                        ["negative", "positive", "surprise"], "probability")
    assert table["type"].tolist() == ["no face", "micro"]
    assert table.loc[0, ["onset_s", "offset_s"]].tolist() == [0.15, 1.0] and table.loc[0, "reason"] == "no face found"
    assert table.loc[1, ["onset_s", "apex_s", "offset_s"]].tolist() == [2.0, 2.25, 2.45]
    assert SpotSettings().spotters(30.0)[0].p == 0.5


# ---- the command on a real bundle --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, small_demo, ray_local):
    return demo_bundle(tmp_path_factory.getbasetemp(), small_demo)


@pytest.mark.ray
def test_acceptance_a_clip_between_neutral_frames_is_spotted_and_classified(bundle, small_demo, tmp_path):
    """``predict --long clip.mp4 --out OUT``: neutral frames, a demo clip, neutral frames -> an interval that
    overlaps the clip, with a class, scored exactly as the pre-cut clip path scores its (onset, apex) pair; a bad
    and a too-short video beside it get one line each."""
    from mer_ray.deploy.bundle_load import load_bundle
    from mer_ray.deploy.prediction import predict_inputs

    frames = clip_images(small_demo)
    video = write_recording(tmp_path / "clip.mp4", [frames[0]] * 90 + frames + [frames[-1]] * 90)
    clip = (90, 90 + len(frames) - 1)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    write_recording(tmp_path / "short.mp4", frames[:5])
    out, explain = tmp_path / "OUT", tmp_path / "explain"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "mer_ray.predict", "--model", str(bundle), "--long", str(video),
                           str(tmp_path / "bad.mp4"), str(tmp_path / "short.mp4"), "--out", str(out), "--explain",
                           str(explain)], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "0000_clip.csv")
    hits = table[(table["onset"] <= clip[1]) & (table["offset"] >= clip[0]) & (table["status"] == "ok")]
    assert len(hits) >= 1 and set(hits["class"]) <= {"negative", "positive", "surprise"}
    hit = hits.iloc[0]
    assert hit["apex"] > hit["onset"] and np.isclose(hit["onset_s"], hit["onset"] / 30, atol=1e-3)
    assert abs(sum(hit[f"score_{c}"] for c in ("negative", "positive", "surprise")) - 1) < 1e-3
    skipped = [line for line in done.stderr.splitlines() if line.startswith("skipped ")]
    assert skipped == [f"skipped {tmp_path / 'bad.mp4'}: unreadable video (OpenCV cannot open it: not a video, or "
                       "an unsupported codec)",
                       f"skipped {tmp_path / 'short.mp4'}: 5 frames (0.17 s): shorter than the scoring window "
                       "(more than 31 frames, 1.03 s, needed)"]
    videos = pd.read_csv(out / "videos.csv")
    assert videos["status"].tolist() == ["ok", "skipped", "skipped"]
    assert (explain / "0000_clip.png").read_bytes()[:8] == PNG
    assert f"{hit['class']}" in done.stdout and "onset_s" in done.stdout
    pre_cut = predict_inputs(load_bundle(bundle), [str(video)], tmp_path / "work", onset_frame=int(hit["onset"]),
                             apex_frame=int(hit["apex"]), use_ray=False)
    assert pre_cut["class"].iloc[0] == hit["class"]
    for c in ("negative", "positive", "surprise"):
        assert abs(pre_cut[f"score_{c}"].iloc[0] - hit[f"score_{c}"]) < 1e-4
