"""CAS(ME)^3 part C adapter on small synthetic sheets and one whole-video frame folder per subject.

The real part C sheet is not available here: these sheets follow the layout the adapter ASSUMES (docs/datasets.md),
plus the column names of the authors' own scripts (``sub``, ``StartFrame``, ``EndFrame``).
"""

from __future__ import annotations

import csv

import pytest

from preprocessing.annotations.datasets import casme3c, parse_dataset_options, parse_dataset_specs, scan_dataset
from preprocessing.annotations.protocols import apply_protocol
from preprocessing.annotations.sample import DatasetError
from preprocessing.cli import main
from tests.preprocessing.trees import write_frames, write_sheet

HEADER = ["Subject", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion", "Expression type"]
SHEET = "annotation/CAS(ME)3_part_C_ME.xlsx"
ROWS = [["spNO.216", 10, 12, 15, "12", 1, "happy", "Micro-expression"],
        [217, 30, 33, 36, "4,7", 2, "Disgust", "Micro-expression"],  # bare subject number, spelling unified
        ["spNO.217", 80, None, 84, "", 7, "sadness", "Micro-expression"],  # no apex: kept, as SMIC's
        ["spNO.217", 50, 60, 55, "1+2", 6, "surprise", "Micro-expression"],  # apex outside onset..offset
        ["spNO.218", 5, 6, 8, "", 7, "happy", "Micro-expression"],  # no frames folder for this subject
        ["spNO.216", 40, 42, 44, "14", 3, "contempt", "Micro-expression"],  # not a CAS(ME)^3 emotion
        ["spNO.216", 70, 71, 72, "12", 1, "happy", "Macro-expression"]]  # not read


def build(root, header=HEADER, rows=ROWS, sheet=SHEET):
    write_sheet(root / sheet, header, rows)
    frames = root / "data" / "part_C"
    write_frames(frames / "spNO.216" / "color", [f"{n}.jpg" for n in range(1, 51)])
    write_frames(frames / "spNO.217", [f"{n}.jpg" for n in range(25, 91)])  # no color/ level
    (frames / "spNO.216" / "depth").mkdir()
    return root


def test_scan_reads_each_subjects_video(tmp_path):
    scan = casme3c.scan(build(tmp_path))
    assert [(s.subject, s.clip, s.emotion, s.action_units, (s.onset, s.apex, s.offset)) for s in scan.samples] == [
        ("casme3c/spNO.216", "10", "happy", "12", (10, 12, 15)),
        ("casme3c/spNO.216", "40", "contempt", "14", (40, 42, 44)),
        ("casme3c/spNO.217", "30", "disgust", "4,7", (30, 33, 36)),
        ("casme3c/spNO.217", "80", "sad", "", (80, None, 84))]
    assert scan.samples[0].frame_numbers == tuple(range(10, 16))  # onset..offset of the subject's whole video
    assert scan.samples[0].frames[0].endswith("data/part_C/spNO.216/color/10.jpg")
    reasons = {e.clip: (e.subject, e.stage, e.reason) for e in scan.exclusions}
    assert reasons == {
        "50": ("casme3c/spNO.217", "sheet",
               "apex outside onset..offset: apex 60, onset 50, offset 55 (CAS(ME)3_part_C_ME.xlsx row 5)"),
        "5": ("casme3c/spNO.218", "frames", "clip folder missing: spNO.218")}
    assert any("Expression type): macro-expression 1" in note for note in scan.notes)
    assert any("'sadness' -> 'sad' (1 rows)" in note for note in scan.notes)


def test_3class_labels_and_unknown_emotion(tmp_path):
    result = apply_protocol("3class", [casme3c.scan(build(tmp_path))])
    assert [(s.subject, s.clip, s.label) for s in result.samples] == [
        ("casme3c/spNO.216", "10", 1), ("casme3c/spNO.217", "30", 0), ("casme3c/spNO.217", "80", 0)]
    (unknown,) = [e for e in result.exclusions if e.stage == "protocol"]
    assert unknown.clip == "40" and unknown.reason.startswith("unknown emotion: 'contempt' (casme3c emotions: anger,")


def test_authors_column_names_without_apex(tmp_path):
    header = ["sub", "count", "StartFrame", "EndFrame", "emotion"]
    build(tmp_path, header, [[216, 1, 10, 15, "happy"], [217, 1, 30, 36, "others"]],
          sheet="annotation/mockCrimeME_Final.xlsx")
    scan = scan_dataset("casme3c", tmp_path)
    assert [(s.subject, s.clip, s.apex, s.frame_numbers[-1]) for s in scan.samples] == [
        ("casme3c/spNO.216", "10", None, 15), ("casme3c/spNO.217", "30", None, 36)]


def test_video_column_and_layout_options(tmp_path):
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "emotion"]
    write_sheet(tmp_path / SHEET, header, [[216, "crime", 10, 12, 15, "happy"], [217, "crime", 30, 33, 36, "fear"]])
    frames = tmp_path / "ME_C"
    write_frames(frames / "sp216" / "crime" / "rgb", [f"img{n}.jpg" for n in range(1, 40)])
    write_frames(frames / "sp217" / "crime" / "rgb", [f"img{n}.jpg" for n in range(1, 40)])
    with pytest.raises(DatasetError, match=r"no CAS\(ME\)\^3 part C frames folder .*casme3c\.frames_dir=DIR"):
        casme3c.scan(tmp_path, subject_prefix="sp")  # sp216/ is not a spNO.* subject folder: not detected
    scan = scan_dataset("casme3c", tmp_path, frames_dir="ME_C", subject_prefix="sp", video_dir="{subject}/{video}/rgb")
    assert [(s.subject, s.clip, len(s.frames)) for s in scan.samples] == [("casme3c/sp216", "crime_10", 6),
                                                                           ("casme3c/sp217", "crime_30", 7)]
    with pytest.raises(DatasetError, match=r"casme3c\.video_dir='\{subject\}/\{clip\}': expected .*\{video\} fields"):
        casme3c.scan(tmp_path, frames_dir="ME_C", video_dir="{subject}/{clip}")


def test_column_remap_worksheet_and_missing_column(tmp_path):
    header = ["Subject", "ME onset", "Apex", "Offset", "emotion"]
    build(tmp_path, header, [["spNO.216", 10, 12, 15, "happy"]])
    with pytest.raises(DatasetError) as info:
        casme3c.scan(tmp_path)
    message = str(info.value)
    assert "CAS(ME)3_part_C_ME.xlsx" in message and "missing OnsetFrame" not in message and "missing Onset" in message
    assert "--dataset-option casme3c.<option>=HEADER" in message and "onset_column" in message
    assert [s.clip for s in scan_dataset("casme3c", tmp_path, onset_column="ME onset").samples] == ["10"]
    with pytest.raises(DatasetError, match="has no worksheet 'ME'"):
        casme3c.scan(tmp_path, onset_column="ME onset", worksheet="ME")


def test_missing_sheet_is_a_clear_error(tmp_path):
    write_frames(tmp_path / "data" / "part_C" / "spNO.216" / "color", ["1.jpg"])
    with pytest.raises(DatasetError, match=r"no CAS\(ME\)\^3 part C annotation sheet under .*: looked for "
                                           r"cas\(me\)3_part_C_ME\*\.xlsx or .*--dataset-option casme3c\.sheet=FILE"):
        casme3c.scan(tmp_path)
    with pytest.raises(DatasetError, match=r"CAS\(ME\)\^3 part C annotation sheet not found: .*labels\.xlsx"):
        casme3c.scan(tmp_path, sheet="labels.xlsx")


def test_registered_for_the_command_line(tmp_path, capsys):
    build(tmp_path)
    assert parse_dataset_specs([f"casme3c={tmp_path}"]) == [("casme3c", tmp_path)]
    assert parse_dataset_options(["casme3c.video_dir={subject}/rgb"]) == {"casme3c": {"video_dir": "{subject}/rgb"}}
    out = tmp_path / "out" / "c.csv"
    assert main(["samples", "--dataset", f"casme3c={tmp_path}", "--protocol", "3class", "--csv", str(out)]) == 0
    with open(out, newline="") as f:
        assert [(r["subject"], r["clip"], r["label"]) for r in csv.DictReader(f)] == [
            ("casme3c/spNO.216", "10", "1"), ("casme3c/spNO.217", "30", "0"), ("casme3c/spNO.217", "80", "0")]
    assert "protocol 3class: 3 clips, 2 subjects" in capsys.readouterr().out
