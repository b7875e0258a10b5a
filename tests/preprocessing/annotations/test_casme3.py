"""CAS(ME)^3 part A adapter on a small synthetic sheet and whole-video frame folders in the documented layout."""

from __future__ import annotations

import pytest

from preprocessing.annotations.datasets import casme3, scan_dataset
from preprocessing.annotations.protocols import apply_protocol
from preprocessing.annotations.sample import DatasetError
from tests.preprocessing.trees import write_frames, write_sheet

HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion", "Expression type"]
SHEET = "annotation/cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"


def build(root, header=HEADER):
    rows = [["spNO.1", "a", 10, 12, 15, "12", 1, "happy", "Micro-expression"],
            ["spNO.1", "a", 30, 33, 36, "4,7", 2, "Disgust", "Micro-expression"],  # second ME of the same video
            [2, "b", 5, 7, 9, "1+2", 6, "surprised", "Micro-expression"],  # bare subject number, spelling fixed
            ["spNO.2", "c", 5, 6, 8, "", 7, "others", "Micro-expression"],
            ["spNO.2", "d", 40, 45, 50, "15", 3, "sad", "Micro-expression"],  # its frames are missing on disk
            ["spNO.2", "b", 1, 2, 3, "12", 1, "happy", "Macro-expression"]]  # not read
    write_sheet(root / SHEET, header, [r[:len(header)] for r in rows])
    frames = root / "data" / "part_A"
    write_frames(frames / "spNO.1" / "a" / "color", [f"{n}.jpg" for n in range(1, 41)])
    write_frames(frames / "spNO.2" / "b" / "color", [f"{n}.jpg" for n in range(1, 12)])
    write_frames(frames / "spNO.2" / "c", [f"{n}.jpg" for n in range(5, 9)])  # no color/ level
    write_frames(frames / "spNO.2" / "d" / "color", [f"{n}.jpg" for n in range(40, 45)])
    (frames / "spNO.1" / "a" / "depth").mkdir()
    return root


def test_scan_trims_video_frames_and_maps_3class(tmp_path):
    scan = casme3.scan(build(tmp_path))
    assert [(s.subject, s.clip, s.emotion, s.action_units) for s in scan.samples] == [
        ("casme3/spNO.1", "a_10", "happy", "12"), ("casme3/spNO.1", "a_30", "disgust", "4,7"),
        ("casme3/spNO.2", "b_5", "surprise", "1+2"), ("casme3/spNO.2", "c_5", "others", "")]
    assert scan.samples[0].frame_numbers == tuple(range(10, 16))  # onset..offset of the whole video folder
    assert scan.samples[1].frame_numbers == tuple(range(30, 37))
    (missing,) = scan.exclusions
    assert (missing.subject, missing.clip, missing.stage) == ("casme3/spNO.2", "d_40", "frames")
    assert missing.reason == "annotated frame missing: apex 45, offset 50 (folder has 5 frames 40..44)"
    assert any("Expression type): macro-expression 1" in note for note in scan.notes)
    assert any("'surprised' -> 'surprise' (1 rows)" in note for note in scan.notes)
    result = apply_protocol("3class", [scan])
    assert [(s.clip, s.label) for s in result.samples] == [("a_10", 1), ("a_30", 0), ("b_5", 2)]
    assert result.exclusions[-1].reason == "emotion 'others' is not in the 3-class protocol"


def test_missing_column_names_sheet_column_and_option(tmp_path):
    build(tmp_path, header=[h for h in HEADER if h != "Offset"])
    with pytest.raises(DatasetError) as info:
        casme3.scan(tmp_path)
    message = str(info.value)
    assert SHEET.split("/")[-1] in message
    assert "missing Offset" in message
    assert "--dataset-option casme3.<option>=HEADER" in message and "offset_column" in message


def test_column_remap_option(tmp_path):
    build(tmp_path, header=[("End" if h == "Offset" else h) for h in HEADER])
    scan = scan_dataset("casme3", tmp_path, offset_column="End")
    assert [s.clip for s in scan.samples] == ["a_10", "a_30", "b_5", "c_5"]
