from __future__ import annotations

import pytest

from preprocessing.annotations.datasets import mmew
from preprocessing.annotations.protocols import apply_protocol
from preprocessing.annotations.sample import DatasetError
from tests.preprocessing.trees import MMEW_HEADER, write_frames, write_sheet


def build(root):
    rows = [[1, "S01_01", 1, 5, 12, "12", "happiness", None], ["S02", "S02_07", 3, 9, 20, "4", "Anger", None],
            [2, "S02_08", 1, 4, 8, "1+2", "surprise", None], [3, "S03_02", 1, 3, 6, "", "others", None],
            [3, "S03_03", 1, 3, 6, "4", "disgust", "apex frame lost"]]
    write_sheet(root / "MMEW_Micro_Exp.xlsx", MMEW_HEADER, rows)
    frames = root / "Micro_Expression"
    write_frames(frames / "happiness" / "S01_01", [f"{n}.jpg" for n in range(1, 13)])
    write_frames(frames / "Anger" / "S02_07", [f"{n}.jpg" for n in range(3, 21)])
    write_frames(frames / "surprise" / "S02_08", [f"{n}.jpg" for n in range(1, 9)])
    write_frames(frames / "others" / "S03_02", [f"{n}.jpg" for n in range(1, 7)])
    write_frames(frames / "disgust" / "S03_03", ["1.jpg", "6.jpg"])
    return root


def test_scan_and_3class(tmp_path):
    scan = mmew.scan(build(tmp_path))
    assert [(s.subject, s.clip, s.emotion) for s in scan.samples] == [
        ("mmew/S01", "S01_01", "happiness"), ("mmew/S02", "S02_07", "anger"), ("mmew/S02", "S02_08", "surprise"),
        ("mmew/S03", "S03_02", "others")]
    assert scan.samples[0].frame_numbers == tuple(range(1, 13))  # 10.jpg after 9.jpg
    (missing,) = scan.exclusions
    assert (missing.clip, missing.reason) == ("S03_03", "annotated frame missing: apex 3 (folder has 2 frames 1..6)")
    result = apply_protocol("3class", [scan])
    assert [(s.clip, s.label) for s in result.samples] == [("S01_01", 1), ("S02_07", 0), ("S02_08", 2)]
    assert result.exclusions[-1].reason == "emotion 'others' is not in the 3-class protocol"


def test_missing_sheet(tmp_path):
    (tmp_path / "Micro_Expression" / "happiness").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"no MMEW annotation sheet under .*: looked for MMEW_Micro_Exp\.xlsx"):
        mmew.scan(tmp_path)
