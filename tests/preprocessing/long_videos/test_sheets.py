"""CAS(ME)^2 and SAMM Long Videos sheet readers on workbooks written here with openpyxl."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from preprocessing.annotations.sample import DatasetError
from preprocessing.long_videos.sheets import CasmeLayout, SammLayout, read_casme2_long, read_samm_long


def _frames(folder: Path, first: int, last: int, pattern: str) -> None:
    folder.mkdir(parents=True)
    for n in range(first, last + 1):
        (folder / pattern.format(n)).write_bytes(b"")  # the readers count frames by name only


def _casme_workbook(path: Path, codes: list[list], *, drop: str | None = None) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "CASMEcode_final"
    for row in codes:
        sheet.append(row)
    rule1 = workbook.create_sheet("naming rule1")
    rule1.append([15, 15, 1])
    rule1.append([16, 16, 2])
    rule2 = workbook.create_sheet("naming rule2")
    rule2.append(["0101", "disgust1", "disgustingteeth"])
    rule2.append([502, "happy1", "funnyerrors"])  # a code stored as a number: zero-padded
    if drop:
        del workbook[drop]
    workbook.save(path)
    return path


@pytest.fixture
def casme_root(tmp_path: Path) -> Path:
    _frames(tmp_path / "rawpic" / "s15" / "15_0101disgustingteeth", 1, 200, "img{}.jpg")
    _frames(tmp_path / "rawpic" / "s16" / "16_0502funnyerrors", 1, 100, "img{}.jpg")
    return tmp_path


ROWS = [
    [1, "disgust1_1", 20, 25, 30, "4", "negative", "micro-expression", "disgust"],
    [1, "disgust1_2", 60, 80, 120, "4+7", "negative", "macro-expression", "disgust"],
    [2, "happy1_1", 10, 14, 0, 12, "positive", "micro-expression", "happy"],  # offset not coded
    [2, "happy1_2", 90, 95, 130, 12, "positive", "macro-expression", "happy"],  # past the video's 100 frames
]


def test_casme2_valid_rows_and_recorded_skip(casme_root: Path):
    path = _casme_workbook(casme_root / "CAS(ME)^2code_final.xlsx", ROWS)
    data = read_casme2_long(path)
    assert sorted(data.videos) == ["s15/15_0101disgustingteeth", "s16/16_0502funnyerrors"]
    assert data.videos["s16/16_0502funnyerrors"]["last_frame"] == 100
    first = data.intervals[0]
    assert (first.subject, first.video, first.onset, first.apex, first.offset, first.kind, first.emotion) == (
        "s15", "15_0101disgustingteeth", 20, 25, 30, "micro", "negative")
    assert [i.kind for i in data.intervals] == ["micro", "macro", "micro"]
    estimated = data.intervals[2]
    assert (estimated.offset, estimated.action_units) == (18, "12") and "2 * apex - onset" in estimated.note
    assert len(data.skips) == 1
    skip = data.skips[0]
    assert skip.file == "CAS(ME)^2code_final.xlsx" and skip.row == 4
    assert "s16/16_0502funnyerrors [90, 130]" in skip.interval
    assert "run past" in skip.reason and "1..100" in skip.reason
    assert "within the video's frames" in skip.expected
    assert "row 4" in str(skip)
    by_video = data.by_video()
    assert len(by_video["s15/15_0101disgustingteeth"]) == 2


def test_casme2_missing_sheet_names_file_and_sheet(casme_root: Path):
    path = _casme_workbook(casme_root / "codes.xlsx", ROWS, drop="naming rule2")
    with pytest.raises(DatasetError, match=r"codes\.xlsx.*'naming rule2' is missing"):
        read_casme2_long(path)
    with pytest.raises(DatasetError, match="missing"):
        read_casme2_long(casme_root / "absent.xlsx")


def test_casme2_mapped_columns_and_missing_folder(casme_root: Path):
    # a copy with the type before the emotion and a renamed first sheet
    rows = [[r[0], r[1], r[2], r[3], r[4], r[5], r[7], r[6]] for r in ROWS[:2]]
    rows.append([1, "nosuch_1", 5, 6, 7, 4, "micro-expression", "negative"])
    path = _casme_workbook(casme_root / "mapped.xlsx", rows)
    layout = CasmeLayout(kind=6, emotion=7)
    data = read_casme2_long(path, layout=layout)
    assert [(i.kind, i.emotion) for i in data.intervals] == [("micro", "negative"), ("macro", "negative")]
    assert "no expression 'nosuch'" in data.skips[0].reason
    (casme_root / "rawpic" / "s15" / "15_0101disgustingteeth").rename(casme_root / "moved")
    data = read_casme2_long(path, layout=layout)
    assert data.intervals == [] and all("no video folder" in s.reason for s in data.skips[:2])


def _samm_workbook(path: Path, header: list, rows: list[list], sheet_name: str = "FACS_Movement_Only") -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_name
    for line in ("SAMM Long Videos", "Release V1", None, "Frames at 200 fps"):
        sheet.append([line])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes"]


@pytest.fixture
def samm_root(tmp_path: Path) -> Path:
    _frames(tmp_path / "SAMM_longvideos" / "006_1", 1, 500, "006_1_{:05d}.jpg")
    return tmp_path


def test_samm_rows_types_and_skips(samm_root: Path):
    rows = [
        ["006", "006_1_1", 1, 100, 120, 150, 51, "Micro - 1/2", "R12", ""],
        [6, "006_1_2", 1, 200, -1, 400, 201, "Macro", "4+7", ""],  # apex not coded
        ["006", "006_1_3", 1, 450, 480, 560, 111, "Macro", "12", ""],  # past frame 500
        ["006", "006_1_4", 1, 10, 12, 20, 11, "Other", "", ""],
        ["007", "007_3_1", 1, 10, 12, 20, 11, "Macro", "", ""],  # no frames folder
    ]
    data = read_samm_long(_samm_workbook(samm_root / "SAMM_LongVideos_V1_Release.xlsx", SAMM_HEADER, rows))
    assert list(data.videos) == ["006/006_1"]
    assert [(i.onset, i.apex, i.offset, i.kind) for i in data.intervals] == [(100, 120, 150, "micro"),
                                                                            (200, None, 400, "macro")]
    assert data.intervals[0].row == 6 and data.fps == 200
    reasons = [s.reason for s in data.skips]
    assert "run past" in reasons[0] and "1..500" in reasons[0]
    assert "type 'Other'" in reasons[1] and "no video folder" in reasons[2]


def test_samm_mapped_header_names_and_missing_sheet(samm_root: Path):
    header = ["Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Type", "Estimated Emotion"]
    rows = [["006", "006_1_1", 100, 120, 150, "Micro - 1/2", "happiness"]]
    path = _samm_workbook(samm_root / "v2.xlsx", header, rows)
    with pytest.raises(DatasetError, match="no header row"):
        read_samm_long(path)
    layout = SammLayout(onset="Onset Frame", apex="Apex Frame", offset="Offset Frame", emotion="Estimated Emotion")
    data = read_samm_long(path, layout=layout)
    assert [(i.onset, i.offset, i.emotion) for i in data.intervals] == [(100, 150, "happiness")]
    with pytest.raises(DatasetError, match=r"v2\.xlsx: sheet 'Sheet9' is missing"):
        read_samm_long(path, layout=SammLayout(sheet="Sheet9"))
