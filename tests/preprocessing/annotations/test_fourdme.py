"""4DME adapter on a small synthetic sheet and grey frame tree in the documented layout."""

from __future__ import annotations

import pytest

from preprocessing.annotations.datasets import fourdme, scan_dataset
from preprocessing.annotations.protocols import apply_protocol
from preprocessing.annotations.sample import DatasetError
from tests.preprocessing.trees import write_frames, write_sheet

HEADER = ["sub_ID", "fold_name", "Onset", "Apex", "Offset", "AUs", "Emotion", "Positive", "Negative"]
SHEET = "4DME_Labelling_Micro_release v1.xlsx"


def build(root, header=HEADER):
    rows = [["S01", "S01_fold1", 1, 4, 8, "AU12", "Positive", 1, 0],
            ["S01", "S01_fold2", 2, 5, 9, "AU4+AU7(k)", "Negative, Surprise", 0, 1],  # two categories
            ["S02", "S02_fold1", 3, 6, 9, "AU1+AU2", "Surprise", 0, 0],
            ["S02", "S02_fold2", 3, 6, 9, "AU14", "Repression", 0, 1],
            ["S03", "S03_fold1", 3, 6, 9, "AU4", "Other", 0, 0],
            ["S03", "S03_fold9", 3, 6, 9, "AU4", "Negative", 0, 1]]  # no folder on disk
    write_sheet(root / SHEET, header, rows)
    frames = root / "gray_micro"
    for subject, clip, onset, _, offset, *_ in rows[:5]:
        write_frames(frames / subject / clip, [f"{n}.jpg" for n in range(onset, offset + 1)])
    return root


def test_scan_and_3class(tmp_path):
    scan = fourdme.scan(build(tmp_path))
    assert [(s.subject, s.clip, s.emotion) for s in scan.samples] == [
        ("fourdme/S01", "S01_fold1", "positive"), ("fourdme/S01", "S01_fold2", "negative+surprise"),
        ("fourdme/S02", "S02_fold1", "surprise"), ("fourdme/S02", "S02_fold2", "repression"),
        ("fourdme/S03", "S03_fold1", "others")]
    (missing,) = scan.exclusions
    assert (missing.clip, missing.stage, missing.reason) == ("S03_fold9", "frames", "clip folder missing: S03_fold9")
    result = apply_protocol("3class", [scan])
    assert [(s.clip, s.label) for s in result.samples] == [("S01_fold1", 1), ("S02_fold1", 2), ("S02_fold2", 0)]
    reasons = {e.clip: e.reason for e in result.exclusions}
    assert reasons["S01_fold2"].startswith("several emotions: 'negative+surprise'")


def test_missing_column_and_remap(tmp_path):
    build(tmp_path, header=[("Subject ID" if h == "sub_ID" else h) for h in HEADER])
    with pytest.raises(DatasetError, match=r"4DME_Labelling_Micro_release v1\.xlsx: .*missing sub_ID.*subject_column"):
        fourdme.scan(tmp_path)
    assert len(scan_dataset("fourdme", tmp_path, subject_column="Subject ID").samples) == 5
