"""Property-based tests (hypothesis): random cells and sheets never raise anything but the documented errors.

The cell parsers may only return a value or raise ``ValueError``; the adapters may only return a scan (bad rows as
recorded exclusions) or raise ``DatasetError``; the protocols may only return a selection or raise ``ValueError``.
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from preprocessing.annotations.datasets import casme2, casme3c, mmew, samm, smic
from preprocessing.annotations.protocols import apply_protocol
from preprocessing.annotations.sample import DatasetError
from preprocessing.annotations.sheets import cell_text, is_missing, parse_frame, subject_number
from tests.preprocessing.trees import CASME2_HEADER, MMEW_HEADER, SAMM_HEADER, SAMM_PREAMBLE, write_sheet

# what a spreadsheet cell can hold once openpyxl has read it (strings of any script, huge and odd numbers, dates)
CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["/", " ", "sub01", "006", "EP02_01f", "happiness", "Disgust", "1+2", "４２", "١٢", "Ⅻ", "0x1F",
                     "1e3", "-3", "12.0", "01"]),
    st.datetimes(min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2100, 1, 1)),
)
# cells openpyxl can write to an .xlsx (it refuses control characters and NaN / inf round-trip oddly)
XLSX_CELLS = st.one_of(
    st.none(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=10),
    st.sampled_from(["/", "sub01", "1", "006", "EP02_01f", "006_1_2", "happiness", "disgust", "surprise", "4+R14",
                     "Anger", "重复", "ÉMOTION"]),
)


@given(CELLS)
def test_cell_parsers_return_a_value_or_a_value_error(value):
    assert isinstance(cell_text(value), str)
    assert isinstance(is_missing(value), bool)
    for parse in (lambda v: parse_frame(v, "apex"), subject_number, lambda v: subject_number(v, ("sub", "s"))):
        try:
            result = parse(value)
        except ValueError as err:
            assert str(err)  # says what was found
        else:
            assert result is None or (isinstance(result, int) and result >= 0)


# a row that is nearly right in every adapter's first columns (subject, clip, frame numbers, emotion), odd cells on top
PLAUSIBLE = st.tuples(st.sampled_from([1, "01", "sub01", 6, "006", 1.0, "S01"]),
                      st.sampled_from(["EP02_01f", "006_1_2", "S01_01", "重复", ""]),
                      st.one_of(st.integers(-5, 2**40), st.sampled_from(["/", "46", None])),
                      st.one_of(st.integers(-5, 2**40), st.sampled_from(["/", "59", None, 12.5])),
                      st.one_of(st.integers(-5, 2**40), st.sampled_from(["/", "86", None])),
                      st.sampled_from(["happiness", "disgust", "surprise", "Anger", "others", "", None])).map(
    lambda t: [t[0], t[1], None, t[2], t[3], t[4], None, "4", t[5], t[2], t[3], t[4]])

ADAPTERS = {
    "casme2": (casme2, CASME2_HEADER, 0, "CASME2-coding-20140508.xlsx", "CASME2_RAW_selected"),
    "samm": (samm, SAMM_HEADER, SAMM_PREAMBLE, "SAMM_Micro_FACS_Codes_v2.xlsx", "SAMM"),
    "mmew": (mmew, MMEW_HEADER, 0, "MMEW_Micro_Exp.xlsx", "Micro_Expression"),
    # the assumed part C sheet (docs/datasets.md), its columns where PLAUSIBLE puts CASME II's
    "casme3c": (casme3c, ["Subject", "Filename", None, "Onset", "Apex", "Offset", None, "AU", "emotion"], 0,
                "CAS(ME)3_part_C_ME.xlsx", "data"),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(ADAPTERS)),
       rows=st.lists(st.one_of(st.lists(XLSX_CELLS, min_size=0, max_size=12), PLAUSIBLE), min_size=0, max_size=6),
       merged_header=st.booleans(), blank_rows=st.integers(0, 2))
def test_adapters_on_random_sheets_return_a_scan_or_a_dataset_error(name, rows, merged_header, blank_rows):
    module, header, preamble, sheet_name, frames = ADAPTERS[name]
    root = Path(tempfile.mkdtemp())
    try:
        head = list(header)
        if merged_header:  # a merged cell reads as None beside its first cell; a header shifted by one
            head = [None, *head[:-1]]
        body = [[None] * len(head)] * blank_rows + [row[: len(head)] for row in rows]
        write_sheet(root / sheet_name, head, body, preamble=preamble)
        (root / frames).mkdir()
        try:
            scan = module.scan(root, frames_dir=frames)  # an empty frames folder: rows without frames
        except DatasetError as err:
            assert str(err)
            event("sheet refused (DatasetError)")
            return
        event(f"scanned: {bool(scan.samples)} samples, {bool(scan.exclusions)} exclusions")
        assert len(scan.samples) + len(scan.exclusions) <= len(rows) + blank_rows
        for exclusion in scan.exclusions:
            assert exclusion.reason and exclusion.stage
        try:
            result = apply_protocol("3class", [scan])
        except ValueError as err:  # e.g. a dataset the protocol cannot map
            assert str(err)
            return
        assert len(result.samples) <= len(scan.samples)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# SMIC-HS has no sheet: its "cells" are folder and file names (HS/s1/micro/negative/s1_ne_01/image069664.bmp)
NAMES = st.one_of(
    st.sampled_from(["s1", "s01", "s20", "S3", "s1_ne_01", "s1_po_2", "s2_sur_03", "s1_xx_01", "s01_NE_001", "micro",
                     "negative", "positive", "surprise", "Negative", "重复", "s١", "s1 ", "image069664.bmp",
                     "image1.bmp", "img.JPG", "frame_10.png", "notes.txt", "Thumbs.db", "s999999999999999999999"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="/\\\x00"),
            min_size=1, max_size=8).filter(lambda n: n not in (".", "..")),
)
# a clip that is nearly right (subject / micro / emotion / clip / frames), then any part replaced by an odd name
GOOD_CLIP = st.tuples(st.integers(1, 3), st.sampled_from(sorted(smic.CODES.items())), st.integers(1, 3)).map(
    lambda t: (f"s{t[0]}", "micro", t[1][1], f"s{t[0]}_{t[1][0]}_0{t[2]}",
               [f"image{n}.bmp" for n in range(100, 100 + 3 * t[2])]))
SMIC_PATHS = st.lists(st.one_of(
    GOOD_CLIP,
    st.tuples(GOOD_CLIP, st.integers(0, 4), NAMES).map(lambda t: (*t[0][: t[1]], t[2], *t[0][t[1] + 1:])),
    st.tuples(GOOD_CLIP, st.lists(NAMES, max_size=3)).map(lambda t: (*t[0][:4], t[0][4] + t[1])),
), max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths=SMIC_PATHS, hs=st.sampled_from(["HS", "SMIC_all_raw/HS", ""]))
def test_smic_on_random_trees_returns_a_scan_or_a_dataset_error(paths, hs):
    root = Path(tempfile.mkdtemp())
    try:
        for subject, micro, emotion, clip, frames in paths:
            folder = root / hs / subject / micro / emotion / clip
            try:
                folder.mkdir(parents=True, exist_ok=True)
                for name in frames if isinstance(frames, list) else [frames]:
                    (folder / name).write_bytes(b"\x00")
            except OSError:  # a file where a folder was asked for, or a name the file system refuses
                continue
        try:
            scan = smic.scan(root)
        except DatasetError as err:
            assert str(err)
            event("tree refused (DatasetError)")
            return
        event(f"scanned: {bool(scan.samples)} samples, {bool(scan.exclusions)} exclusions")
        for sample in scan.samples:
            assert sample.subject.startswith("smic/s") and sample.frames and sample.onset <= sample.offset
        for exclusion in scan.exclusions:
            assert exclusion.reason and exclusion.stage
        try:
            result = apply_protocol("3class", [scan])
        except ValueError as err:
            assert str(err)
            return
        assert len(result.samples) <= len(scan.samples)
    finally:
        shutil.rmtree(root, ignore_errors=True)
