"""`python -m mer_ray.predict` on real demo frames and videos, through the bundle's own preprocessing."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from mer_ray.data.features import load_features
from mer_ray.deploy.bundle_load import load_bundle
from mer_ray.deploy.prediction import predict_inputs
from mer_ray.predict import main
from preprocessing.annotations.frames import list_frames
from tests.mer_ray._demo_bundle import clip_folder, demo_bundle, demo_features, first_clip

pytestmark = pytest.mark.ray
SCORES = ["score_negative", "score_positive", "score_surprise"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, small_demo, ray_local):
    return demo_bundle(tmp_path_factory.getbasetemp(), small_demo)


@pytest.fixture(scope="module")
def features(tmp_path_factory, small_demo, bundle):
    return load_features(demo_features(tmp_path_factory.getbasetemp(), small_demo))


def write_video(path, frames: list[str], fps: float = 30.0):
    """A real mp4 (OpenCV's VideoWriter, mp4v) from frame images."""
    first = cv2.imread(frames[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (first.shape[1], first.shape[0]))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for frame in frames:
        writer.write(cv2.imread(frame))
    writer.release()
    return path


def test_a_clip_from_its_raw_frames_scores_as_its_stored_features(bundle, features, small_demo, tmp_path):
    """The bundle's preprocessing applied to the raw frames (onset / apex as the features used) gives the features'
    scores: alignment, masks and TV-L1 are the training ones."""
    loaded = load_bundle(bundle)
    _, stored = loaded.predict(features)
    for i in (0, 4, 8):
        row = features.meta.iloc[i]
        table = predict_inputs(loaded, [str(clip_folder(small_demo, row["sample_id"]))], tmp_path,
                               onset_frame=int(row["onset"]), apex_frame=int(row["apex"]), use_ray=False)
        assert table["status"].tolist() == ["ok"] and not table["apex_spotted"].iloc[0]
        assert (table["onset"].iloc[0], table["apex"].iloc[0]) == (row["onset"], row["apex"])
        np.testing.assert_allclose(table[SCORES].to_numpy(float)[0], stored[i], atol=1e-4)


def test_a_real_mp4_is_predicted_with_a_spotted_apex(bundle, small_demo, tmp_path, capsys):
    frames = list_frames(first_clip(small_demo, "sub02"))
    video = write_video(tmp_path / "clip.mp4", list(frames.paths))
    code = main(["--model", str(bundle), str(video), "--out", str(tmp_path / "table"), "--explain",
                 str(tmp_path / "explain")])
    assert code == 0
    table = pd.read_csv(tmp_path / "table.csv")
    [row] = table.to_dict("records")
    assert row["kind"] == "video" and row["status"] == "ok" and row["frames"] == len(frames.paths)
    assert row["onset"] == 0 and row["apex_spotted"] and 0 < row["apex"] < len(frames.paths)
    assert row["class"] in ("negative", "positive", "surprise") and row["score_kind"] == "probability"
    assert abs(sum(row[c] for c in SCORES) - 1) < 1e-5
    assert json.loads((tmp_path / "table.json").read_text())[0]["class"] == row["class"]
    assert (tmp_path / "explain" / "0000_clip.png").read_bytes()[:8] == PNG
    assert f"{video}: {row['class']} (" in capsys.readouterr().out


def test_bad_inputs_get_one_line_each_and_the_others_go_on(bundle, small_demo, tmp_path, capsys):
    good = first_clip(small_demo, "sub01")
    first = list_frames(good).paths[0]
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.avi").write_text("not a video")
    cv2.VideoWriter(str(tmp_path / "zero.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 64)).release()  # no frame
    (tmp_path / "one").mkdir()
    cv2.imwrite(str(tmp_path / "one" / "img1.png"), cv2.imread(first))
    (tmp_path / "noface").mkdir()
    noise = np.random.default_rng(0).integers(0, 255, (240, 320), dtype=np.uint8)
    for n in (1, 2, 3):
        cv2.imwrite(str(tmp_path / "noface" / f"img{n}.png"), noise)
    small = cv2.resize(cv2.imread(first), (100, 80))
    cv2.imwrite(str(tmp_path / "small.png"), small)
    inputs = [str(good), str(tmp_path / "empty.mp4"), str(tmp_path / "text.avi"), str(tmp_path / "zero.avi"),
              str(tmp_path / "one"),
              str(tmp_path / "noface"), str(tmp_path / "missing.mov")]
    code = main(["--model", str(bundle), *inputs, "--onset", first, "--apex", str(tmp_path / "small.png"),
                 "--out", str(tmp_path / "t"), "--ray", "off"])
    assert code == 0
    table = pd.read_csv(tmp_path / "t.csv")
    assert table["status"].tolist() == ["ok"] + ["skipped"] * 7
    reasons = dict(zip(table["input"], table["reason"]))
    assert reasons[str(tmp_path / "empty.mp4")].startswith("unreadable video")  # 0 bytes: OpenCV cannot open it
    assert reasons[str(tmp_path / "text.avi")].startswith("unreadable video")
    assert reasons[str(tmp_path / "zero.avi")] == "empty video: no frame could be decoded"  # opens, holds nothing
    assert reasons[str(tmp_path / "one")] == "too few frames: 1 (an onset and at least one later frame are needed)"
    assert reasons[str(tmp_path / "noface")].startswith("no face found")
    assert reasons[str(tmp_path / "missing.mov")] == "no such file or folder"
    assert reasons[f"{first} + {tmp_path / 'small.png'}"].endswith("the apex image 100x80; a pair must share a size")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 7 and all(line.startswith("skipped ") for line in err) and "Traceback" not in "".join(err)


def test_onset_or_apex_out_of_range_is_named(bundle, small_demo, tmp_path, capsys):
    good = first_clip(small_demo, "sub01")
    numbers = list_frames(good).numbers
    assert main(["--model", str(bundle), str(good), "--apex-frame", str(numbers[-1] + 5), "--out",
                 str(tmp_path / "t")]) == 1  # nothing could be predicted
    expected = f"apex frame {numbers[-1] + 5} is out of range (frames {numbers[0]}..{numbers[-1]})"
    assert expected in capsys.readouterr().err
    assert main(["--model", str(bundle), str(good), "--onset-frame", "0", "--out", str(tmp_path / "t")]) == 1
    assert "onset frame 0 is out of range" in capsys.readouterr().err


def spy_on_the_pipeline(monkeypatch) -> list[int]:
    """Record the clip count of every ``run_pipeline`` call (the Ray Data pipeline itself still runs)."""
    from preprocessing.features import pipeline

    calls, real = [], pipeline.run_pipeline

    def spy(samples, *args, **kwargs):
        calls.append(len(samples))
        return real(samples, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run_pipeline", spy)
    return calls


def test_a_folder_of_clips_runs_through_ray_data_and_explains_each(bundle, small_demo, tmp_path, capsys,
                                                                   monkeypatch):
    from preprocessing.demo import FRAMES_DIR

    calls = spy_on_the_pipeline(monkeypatch)

    (tmp_path / "noface").mkdir()
    for n in (1, 2):  # a clip the pipeline's actors reject: its reason comes back from the shards
        cv2.imwrite(str(tmp_path / "noface" / f"img{n}.png"), np.full((200, 200), 90 + n, np.uint8))
    code = main(["--model", str(bundle), str(small_demo / FRAMES_DIR), str(tmp_path / "noface"), "--out",
                 str(tmp_path / "t"), "--explain", str(tmp_path / "png")])
    assert code == 0
    captured = capsys.readouterr()
    assert calls == [10]  # every clip went through the Ray Data pipeline, in one run
    assert captured.err.strip() == (f"skipped {tmp_path / 'noface'}: no face found (dlib hog detector, upsampling "
                                    "0..1) on the onset frame (stage 'detect')")
    table = pd.read_csv(tmp_path / "t.csv")
    assert table["status"].tolist() == ["ok"] * 9 + ["skipped"]
    table = table.iloc[:9]
    assert table["apex_spotted"].all()
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 9 and all(p.read_bytes()[:8] == PNG for p in pngs)
    assert sorted(table["explanation"]) == [str(p) for p in pngs]


@pytest.mark.slow
def test_twenty_demo_clips_through_ray_data(bundle, tmp_path, monkeypatch):
    """The acceptance run: 20 clips of the default demo, table and explanation PNGs."""
    from preprocessing.demo import FRAMES_DIR, generate_demo

    calls = spy_on_the_pipeline(monkeypatch)
    root = generate_demo(tmp_path / "demo", seed=1)
    clips = sorted(p for p in (root / FRAMES_DIR).glob("*/*") if p.is_dir())[:20]
    folder = tmp_path / "clips"
    folder.mkdir()
    for clip in clips:
        (folder / f"{clip.parent.name}_{clip.name}").symlink_to(clip)
    assert main(["--model", str(bundle), str(folder), "--out", str(tmp_path / "t"),
                 "--explain", str(tmp_path / "png")]) == 0
    assert calls == [20]
    table = pd.read_csv(tmp_path / "t.csv")
    assert len(table) == 20 and (table["status"] == "ok").all()
    assert len(list((tmp_path / "png").glob("*.png"))) == 20
