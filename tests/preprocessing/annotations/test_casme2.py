from __future__ import annotations

from pathlib import Path

import pytest

from preprocessing.annotations.datasets import casme2
from preprocessing.annotations.sample import DatasetError
from tests.preprocessing.trees import (
    CASME2_HEADER,
    annotated_frames,
    casme2_from_sheet,
    real_rows,
    write_frames,
    write_sheet,
)

SHEET = "CASME2-coding-20140508.xlsx"


def build(root: Path, rows: list[list], frames_dir: str = "CASME2_RAW_selected", prefix: str = "img",
          skip_frames: tuple[str, ...] = ()) -> Path:
    """Synthetic CASME II: a sheet with ``rows`` (Subject, Filename, onset, apex, offset, emotion) and frames."""
    sheet_rows = [[s, f, None, on, ap, off, None, "4", emotion] for s, f, on, ap, off, emotion in rows]
    write_sheet(root / SHEET, CASME2_HEADER, sheet_rows)
    for subject, clip, onset, apex, offset, _ in rows:
        if clip in skip_frames:
            continue
        folder = root / frames_dir / f"sub{int(str(subject).removeprefix('sub')):02d}" / clip
        write_frames(folder, [f"{prefix}{n}.jpg" for n in annotated_frames(onset, apex, offset)])
    return root


def test_real_sheet_tree(tmp_path, reference_dir):
    root = casme2_from_sheet(tmp_path / "CASME2", reference_dir / SHEET)
    scan = casme2.scan(root)
    assert scan.dataset == "casme2" and scan.root == root.resolve()
    assert len(scan.samples) == 255 and scan.exclusions == []  # every row has its frames; protocols select later
    rows = real_rows(reference_dir / SHEET, 1)  # read independently of the adapter
    assert {s.subject for s in scan.samples} == {f"casme2/sub{int(r[0]):02d}" for r in rows}  # 26 subjects
    first = scan.samples[0]
    assert (first.subject, first.clip, first.emotion, first.onset, first.apex, first.offset, first.action_units) == (
        "casme2/sub01", "EP02_01f", "happiness", 46, 59, 86, "12")
    assert first.frame_numbers == (45, 46, 59, 86)
    assert first.frames[0].endswith("CASME2_RAW_selected/sub01/EP02_01f/img45.jpg")
    slash = next(s for s in scan.samples if s.clip == "EP12_01f")
    assert slash.apex is None  # "/" in the sheet; the protocols exclude it
    assert "header row 1" in scan.notes[0] and "auto-detected" in scan.notes[1]


def test_subject_forms_and_numeric_frame_order(tmp_path):
    root = build(tmp_path, [[1, "EP01_01", 9, 46, 100, "happiness"], ["02", "EP01_02", 5, 6, 7, "surprise"],
                            ["sub03", "EP01_03", 5, 6, 7, "disgust"]])
    scan = casme2.scan(root)
    assert [s.subject for s in scan.samples] == ["casme2/sub01", "casme2/sub02", "casme2/sub03"]
    assert scan.samples[0].frame_numbers == (8, 9, 46, 100)
    assert [Path(p).name for p in scan.samples[0].frames] == ["img8.jpg", "img9.jpg", "img46.jpg", "img100.jpg"]


def test_cropped_release_and_layout_choice(tmp_path):
    rows = [[1, "EP01_01", 10, 12, 14, "happiness"]]
    build(tmp_path / "a", rows, frames_dir="Cropped", prefix="reg_img")
    scan = casme2.scan(tmp_path / "a")
    assert Path(scan.samples[0].frames[0]).name == "reg_img9.jpg"
    # both releases present: raw selected preferred, the note names the other; frames_dir overrides
    build(tmp_path / "b", rows, frames_dir="Cropped", prefix="reg_img")
    build(tmp_path / "b", rows)
    scan = casme2.scan(tmp_path / "b")
    assert "/CASME2_RAW_selected/" in scan.samples[0].frames[0]
    assert "also found Cropped: choose with --dataset-option casme2.frames_dir=DIR" in scan.notes[1]
    assert "/Cropped/" in casme2.scan(tmp_path / "b", frames_dir="Cropped").samples[0].frames[0]
    # subject folders directly in the root
    build(tmp_path / "c", rows, frames_dir=".")
    assert len(casme2.scan(tmp_path / "c").samples) == 1


def test_missing_root_sheet_and_frames_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"CASME II root not found: .*nowhere \(expected a folder holding"):
        casme2.scan(tmp_path / "nowhere")
    (tmp_path / "CASME2_RAW_selected" / "sub01").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"no CASME II annotation sheet under .*: looked for CASME2-coding-20140508"
                                           r"\.xlsx or CASME2-coding\*\.xlsx.*--dataset-option casme2\.sheet=FILE"):
        casme2.scan(tmp_path)
    with pytest.raises(DatasetError, match=r"CASME II annotation sheet not found: .*other\.xlsx"):
        casme2.scan(tmp_path, sheet="other.xlsx")
    write_sheet(tmp_path / "empty" / SHEET, CASME2_HEADER, [])
    with pytest.raises(DatasetError, match="no CASME II frames folder under .*casme2.frames_dir=DIR"):
        casme2.scan(tmp_path / "empty")


def test_missing_columns(tmp_path):
    header = [c for c in CASME2_HEADER if c != "OffsetFrame"]
    write_sheet(tmp_path / SHEET, header, [["01", "EP01_01", None, 1, 2, None, "4", "happiness"]])
    (tmp_path / "sub01").mkdir()
    with pytest.raises(DatasetError) as info:
        casme2.scan(tmp_path)
    message = str(info.value)
    assert SHEET in message
    assert "no header row with the columns Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Estimated Emotion" \
        in message
    assert "row 1 has Subject, Filename, OnsetFrame, ApexFrame, Action Units, Estimated Emotion" in message


def test_bad_rows_are_excluded_and_the_others_go_on(tmp_path):
    rows = [
        [1, "GOOD", 10, 12, 14, "happiness"],
        [1, "APEX_OUT", 10, 30, 14, "disgust"],
        [1, "ONSET_TEXT", "ten", 12, 14, "disgust"],
        [1, "NO_FOLDER", 10, 12, 14, "disgust"],
        [1, "NO_FRAME", 10, 12, 14, "disgust"],
        [1, "DUP_SAME", 10, 12, 14, "surprise"],
        [1, "DUP_SAME", 10, 12, 14, "surprise"],
        [1, "DUP_CONFLICT", 10, 12, 14, "surprise"],
        [1, "DUP_CONFLICT", 10, 13, 14, "surprise"],
        [1, "NO_EMOTION", 10, 12, 14, None],
        ["x", "BAD_SUBJECT", 10, 12, 14, "disgust"],
    ]
    root = build(tmp_path, rows, skip_frames=("NO_FOLDER", "ONSET_TEXT", "BAD_SUBJECT"))
    (root / "CASME2_RAW_selected" / "sub01" / "NO_FRAME" / "img12.jpg").unlink()  # the apex
    scan = casme2.scan(root)
    assert [s.clip for s in scan.samples] == ["DUP_SAME", "GOOD"]
    reasons = {e.clip: (e.stage, e.reason) for e in scan.exclusions}
    assert reasons == {
        "APEX_OUT": ("sheet", f"apex outside onset..offset: apex 30, onset 10, offset 14 ({SHEET} row 3)"),
        "ONSET_TEXT": ("sheet", f"onset is not a frame number: 'ten' ({SHEET} row 4)"),
        "NO_FOLDER": ("frames", "clip folder missing: NO_FOLDER"),
        "NO_FRAME": ("frames", "annotated frame missing: apex 12 (folder has 3 frames 9..14)"),
        "DUP_SAME": ("sheet", f"duplicate row: {SHEET} row 8 repeats row 7"),
        "DUP_CONFLICT": ("sheet", f"duplicate clip with conflicting annotations: {SHEET} rows 9, 10"),
        "NO_EMOTION": ("sheet", f"emotion missing in the sheet: {SHEET} row 11"),
        "BAD_SUBJECT": ("sheet", f"subject is not a subject number: 'x' ({SHEET} row 12)"),
    }
    no_folder = next(e for e in scan.exclusions if e.clip == "NO_FOLDER")
    assert no_folder.path.endswith("CASME2_RAW_selected/sub01/NO_FOLDER") and no_folder.subject == "casme2/sub01"


def test_ambiguous_sheets_ask_for_a_choice(tmp_path):
    rows = [[1, "EP01_01", 10, 12, 14, "happiness"]]
    build(tmp_path, rows)
    (tmp_path / SHEET).rename(tmp_path / "CASME2-coding-a.xlsx")
    write_sheet(tmp_path / "CASME2-coding-b.xlsx", CASME2_HEADER, [])
    with pytest.raises(DatasetError, match=r"several CASME II annotation sheets under .* match 'CASME2-coding\*\.xlsx'"
                                           r": .*choose one with --dataset-option casme2\.sheet=FILE"):
        casme2.scan(tmp_path)
    assert len(casme2.scan(tmp_path, sheet="CASME2-coding-a.xlsx").samples) == 1
