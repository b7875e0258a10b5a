"""CASME (I) adapter on a small synthetic sheet and frame tree in the documented layout."""

from __future__ import annotations

import pytest

from preprocessing.annotations.datasets import casme, scan_dataset
from preprocessing.annotations.protocols import apply_protocol
from preprocessing.annotations.sample import DatasetError
from tests.preprocessing.trees import write_frames, write_sheet

HEADER = ["Subject", "Filename", None, "OnsetF", "ApexF1", "ApexF2", "OffsetF", None, "Action Units", "Emotion"]


def build(root, header=HEADER):
    rows = [[1, "EP01_5", None, 20, 24, 25, 30, None, "12", "happy"],
            ["02", "EP03_1", None, 5, "/", None, 9, None, "4", "disgust"],  # apex missing
            [2, "EP05_2", None, 3, 5, None, 8, None, "1+2", "Surprise"],
            [3, "EP07_1", None, 10, 12, None, 14, None, "14", "tense"],
            [3, "EP08_1", None, 10, 12, None, 40, None, "15", "repression"]]  # offset beyond the frames
    write_sheet(root / "casme.xlsx", header, rows)
    frames = root / "CASME_raw_selected"
    write_frames(frames / "sub01" / "EP01_5", [f"EP01_5-{n}.jpg" for n in range(20, 31)])
    write_frames(frames / "sub02" / "EP03_1", [f"img{n}.jpg" for n in range(5, 10)])
    write_frames(frames / "sub02" / "EP05_2", [f"img{n}.jpg" for n in range(3, 9)])
    write_frames(frames / "sub03" / "EP07_1", [f"img{n}.jpg" for n in range(10, 15)])
    write_frames(frames / "sub03" / "EP08_1", [f"img{n}.jpg" for n in range(10, 20)])
    return root


def test_scan_and_3class(tmp_path):
    scan = casme.scan(build(tmp_path))
    assert [(s.subject, s.clip, s.emotion, s.apex) for s in scan.samples] == [
        ("casme/sub01", "EP01_5", "happiness", 24), ("casme/sub02", "EP03_1", "disgust", None),
        ("casme/sub02", "EP05_2", "surprise", 5), ("casme/sub03", "EP07_1", "tense", 12)]
    (missing,) = scan.exclusions
    assert (missing.clip, missing.stage) == ("EP08_1", "frames")
    assert missing.reason.startswith("annotated frame missing: offset 40")
    result = apply_protocol("3class", [scan])
    assert [(s.clip, s.label) for s in result.samples] == [("EP01_5", 1), ("EP05_2", 2)]
    reasons = {e.clip: e.reason for e in result.exclusions}
    assert reasons["EP03_1"] == "apex missing in the sheet ('/' or blank)"
    assert reasons["EP07_1"] == "emotion 'tense' is not in the 3-class protocol"


def test_missing_column_and_remap(tmp_path):
    build(tmp_path, header=[("Label" if h == "Emotion" else h) for h in HEADER])
    with pytest.raises(DatasetError, match=r"casme\.xlsx: no header row .*missing Emotion.*emotion_column"):
        casme.scan(tmp_path)
    assert len(scan_dataset("casme", tmp_path, emotion_column="Label").samples) == 4


def test_casme2_release_folder_is_not_taken_for_casme(tmp_path):
    build(tmp_path)
    write_frames(tmp_path / "CASME2_RAW_selected" / "sub01" / "EP01_5", ["img1.jpg"])
    assert "CASME_raw_selected" in casme.scan(tmp_path).notes[1]
