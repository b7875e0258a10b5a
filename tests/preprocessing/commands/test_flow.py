"""`python -m preprocessing flow`: flow maps (.npy + PNG), aligned faces and masks of any clip or video."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np

from preprocessing.annotations.frames import list_frames
from preprocessing.cli import main
from preprocessing.demo import FRAMES_DIR

FILES = ("u.npy", "v.npy", "strain.npy", "mask.npy", "u.png", "v.png", "strain.png", "flow.png", "mask.png",
         "onset_face.png", "apex_face.png", "info.json")


def test_flow_maps_of_a_frame_folder_and_a_video(small_demo, tmp_path, capsys):
    clip = sorted(p for p in (small_demo / FRAMES_DIR / "sub01").iterdir() if p.is_dir())[0]
    frames = list_frames(clip)
    first = cv2.imread(frames.paths[0])
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (first.shape[1], first.shape[0]))
    for path in frames.paths:
        writer.write(cv2.imread(path))
    writer.release()
    out = tmp_path / "maps"
    code = main(["flow", str(clip), str(video), str(tmp_path / "nothing.mp4"), "--apex-frame",
                 str(frames.numbers[3]), "--out", str(out), "--ray", "off"])
    assert code == 0
    with open(out / "index.csv") as f:
        index = list(csv.DictReader(f))
    assert [r["status"] for r in index] == ["ok", "skipped", "skipped"]  # the video's frames count from 0
    assert index[1]["reason"] == f"apex frame {frames.numbers[3]} is out of range (frames 0..{len(frames.paths) - 1})"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "nothing.mp4: no such file or folder" in err[1]
    folder = out / index[0]["folder"].rsplit("/", 1)[-1]
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    u, strain, mask = (np.load(folder / f"{n}.npy") for n in ("u", "strain", "mask"))
    assert u.dtype == np.float32 and u.shape == (224, 224) and np.abs(u).max() > 0.05
    assert strain.dtype == np.float32 and (strain >= 0).all()
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert cv2.imread(str(folder / "flow.png")).shape == (224, 224, 3)
    info = json.loads((folder / "info.json").read_text())
    assert info["apex"] == frames.numbers[3] and not info["apex_spotted"] and info["onset"] == frames.numbers[0]
    gray = cv2.imread(str(folder / "u.png"), cv2.IMREAD_GRAYSCALE).astype(float)
    np.testing.assert_allclose((gray - 128) / 127 * info["png_scales"]["u_v"], np.clip(u, -info["png_scales"]["u_v"],
                               info["png_scales"]["u_v"]), atol=info["png_scales"]["u_v"] / 100)

    again = main(["flow", str(video), "--out", str(tmp_path / "video"), "--ray", "off"])  # the video, apex spotted
    assert again == 0
    [row] = list(csv.DictReader(open(tmp_path / "video" / "index.csv")))
    assert row["kind"] == "video" and row["apex_spotted"] == "True" and row["onset"] == "0"


def test_nothing_to_do_is_a_usage_error(tmp_path, capsys):
    assert main(["flow", "--out", str(tmp_path)]) == 2
    assert "nothing to do" in capsys.readouterr().err
