from __future__ import annotations

import pytest

from preprocessing.annotations.sample import DatasetError
from preprocessing.annotations.sheets import Column, cell_text, parse_frame, read_sheet, subject_number
from tests.preprocessing.trees import SAMM_HEADER, write_sheet

COLUMNS = [Column("Subject", ("subject",)), Column("OnsetFrame", ("onsetframe",)),
           Column("Notes", ("notes",), required=False)]


def test_header_found_below_a_preamble(tmp_path):
    path = write_sheet(tmp_path / "s.xlsx", ["Subject", None, "Onset Frame"], [["006", None, 5562], [None, None, None],
                                                                               [7, None, "12"]], preamble=13)
    sheet = read_sheet(path, COLUMNS)
    assert sheet.header_row == 14
    assert [(r.number, r["Subject"], r["OnsetFrame"]) for r in sheet.rows] == [(15, "006", 5562), (17, 7, "12")]
    assert sheet.rows[0]["Notes"] is None  # optional column absent


def test_header_on_a_later_worksheet(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["something else"])
    book.create_sheet("codes").append(["Subject", "OnsetFrame"])
    book["codes"].append([1, 2])
    book.save(tmp_path / "two.xlsx")
    assert read_sheet(tmp_path / "two.xlsx", COLUMNS).worksheet == "codes"


def test_missing_columns_name_the_file_found_and_expected(tmp_path):
    path = write_sheet(tmp_path / "codes.xlsx", ["Subject", "Filename", "Apex"], [[1, "EP01", 3]])
    with pytest.raises(DatasetError) as info:
        read_sheet(path, COLUMNS)
    message = str(info.value)
    assert str(path) in message
    assert "no header row with the columns Subject, OnsetFrame" in message
    assert "closest: worksheet 'Sheet' row 1 has Subject, Filename, Apex" in message


def test_missing_and_unreadable_sheets(tmp_path):
    with pytest.raises(DatasetError, match="annotation sheet not found: .*absent.xlsx"):
        read_sheet(tmp_path / "absent.xlsx", COLUMNS)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match=r"cannot read annotation sheet .*broken\.xlsx: .*expected an \.xlsx"):
        read_sheet(broken, COLUMNS)


def test_real_samm_sheet_header_row_and_formula_cells(reference_dir):
    columns = [Column(name, (name.lower().replace(" ", ""),)) for name in SAMM_HEADER[:10]]
    sheet = read_sheet(reference_dir / "SAMM_Micro_FACS_Codes_v2.xlsx", columns)
    assert sheet.header_row == 14  # 13 preamble rows
    assert len(sheet.rows) == 159
    first = sheet.rows[0]
    assert (first["Subject"], first["Filename"], first["Onset Frame"], first["Estimated Emotion"]) == (
        "006", "006_1_2", 5562, "Anger")
    # Duration is a formula (=SUM(F15-D15)+1): read as its cached value, never as formula text
    assert not any(str(r["Duration"]).startswith("=") for r in sheet.rows)


def test_real_casme2_sheet_blank_columns_and_slash_apex(reference_dir):
    columns = [Column("Subject", ("subject",)), Column("ApexFrame", ("apexframe",)),
               Column("Estimated Emotion", ("estimatedemotion",))]
    sheet = read_sheet(reference_dir / "CASME2-coding-20140508.xlsx", columns)
    assert sheet.header_row == 1 and len(sheet.rows) == 255
    assert [r["ApexFrame"] for r in sheet.rows].count("/") == 1


@pytest.mark.parametrize(("value", "expected"), [(46, 46), (46.0, 46), (" 46 ", 46), ("/", None), (None, None),
                                                 ("", None), ("-", None)])
def test_parse_frame(value, expected):
    assert parse_frame(value, "apex") == expected


@pytest.mark.parametrize("value", ["abc", 4.5, -3, True])
def test_parse_frame_rejects_non_frames(value):
    with pytest.raises(ValueError, match=f"^apex is not a frame number: {value!r}"):
        parse_frame(value, "apex")


def test_subject_number_and_cell_text():
    assert [subject_number(v, prefixes=("sub",)) for v in (1, 1.0, "01", "006", "sub07")] == [1, 1, 1, 6, 7]
    with pytest.raises(ValueError, match="subject is not a subject number: 'x1'"):
        subject_number("x1")
    assert (cell_text(12.0), cell_text(None), cell_text(" 4+7 ")) == ("12", "", "4+7")
