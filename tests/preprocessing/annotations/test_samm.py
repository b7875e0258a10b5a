from __future__ import annotations

from pathlib import Path

import pytest

from preprocessing.annotations.datasets import samm
from preprocessing.annotations.sample import DatasetError
from tests.preprocessing.trees import (
    SAMM_HEADER,
    SAMM_PREAMBLE,
    real_rows,
    samm_from_sheet,
    write_frames,
    write_sheet,
)

SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"


def samm_row(subject, clip, onset, apex, offset, emotion):
    return [subject, clip, 1, onset, apex, offset, f"={offset}-{onset}+1", "Micro - 1/2", "4+7", emotion, 3, None]


def test_real_sheet_tree(tmp_path, reference_dir):
    root = samm_from_sheet(tmp_path / "SAMM", reference_dir / SHEET)
    scan = samm.scan(root)
    assert len(scan.samples) == 159 and scan.exclusions == []
    rows = real_rows(reference_dir / SHEET, SAMM_PREAMBLE + 1)  # read independently of the adapter
    assert {s.subject for s in scan.samples} == {f"samm/{int(r[0]):03d}" for r in rows}  # 29 subjects
    first = scan.samples[0]
    assert (first.subject, first.clip, first.emotion, first.onset, first.apex, first.offset) == (
        "samm/006", "006_1_2", "anger", 5562, 5588, 5632)
    assert first.frame_numbers == (5561, 5562, 5588, 5632)
    assert first.frames[1].endswith("SAMM/006/006_1_2/006_05562.jpg")
    assert sum(s.emotion == "other" for s in scan.samples) == 26  # 'Other' lower-cased; dropped by the protocols
    assert "header row 14" in scan.notes[0]


def test_integer_subject_preamble_and_frames_in_root(tmp_path):
    write_sheet(tmp_path / SHEET, SAMM_HEADER, [samm_row(6, "006_1_2", 98, 99, 100, "Happiness")],
                preamble=SAMM_PREAMBLE)
    write_frames(tmp_path / "006" / "006_1_2", [f"006_{n:05d}.jpg" for n in (100, 98, 99, 101)])
    scan = samm.scan(tmp_path)
    (sample,) = scan.samples
    assert (sample.subject, sample.emotion) == ("samm/006", "happiness")
    assert sample.frame_numbers == (98, 99, 100, 101)


def test_bad_input(tmp_path):
    with pytest.raises(DatasetError, match="SAMM root not found"):
        samm.scan(tmp_path / "absent")
    rows = [samm_row("006", "006_1_2", 10, 10, 20, "Anger"), samm_row("006", "006_1_3", 10, 25, 20, "Anger"),
            samm_row("007", "007_1_1", 10, 12, 20, "Fear")]
    write_sheet(tmp_path / "codes" / SHEET, SAMM_HEADER, rows, preamble=SAMM_PREAMBLE)
    write_frames(tmp_path / "SAMM_CROP" / "006" / "006_1_2", ["006_00010.jpg", "006_00020.jpg"])
    write_frames(tmp_path / "SAMM_CROP" / "006" / "006_1_3", ["006_00010.jpg", "006_00020.jpg"])
    scan = samm.scan(tmp_path)  # sheet one folder down, cropped frames folder
    assert [s.clip for s in scan.samples] == ["006_1_2"]  # apex == onset is the protocols' business
    assert {e.clip: e.reason for e in scan.exclusions} == {
        "006_1_3": f"apex outside onset..offset: apex 25, onset 10, offset 20 ({SHEET} row 16)",
        "007_1_1": "clip folder missing: 007_1_1",
    }
    assert Path(scan.samples[0].frames[0]).parent.parent.parent.name == "SAMM_CROP"


def test_missing_columns_name_the_file(tmp_path):
    header = [c for c in SAMM_HEADER if c != "Estimated Emotion"]
    write_sheet(tmp_path / SHEET, header, [], preamble=SAMM_PREAMBLE)
    (tmp_path / "006").mkdir()
    with pytest.raises(DatasetError, match=rf"{SHEET}: no header row with the columns Subject, Filename, OnsetFrame, "
                                           r"ApexFrame, OffsetFrame, Estimated Emotion .*row 14 has Subject"):
        samm.scan(tmp_path)
