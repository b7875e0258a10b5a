from __future__ import annotations

from pathlib import Path

import pytest

from preprocessing.annotations.datasets import smic
from preprocessing.annotations.sample import DatasetError
from tests.preprocessing.trees import smic_clip_folder, smic_from_list, write_frames


def test_official_clips(tmp_path, official):
    clips = [clip for dataset, _, clip, _ in official if dataset == "smic"]
    scan = smic.scan(smic_from_list(tmp_path, clips))
    assert scan.exclusions == []
    assert sorted(s.clip for s in scan.samples) == sorted(clips)
    assert len({s.subject for s in scan.samples}) == 16
    first = scan.samples[0]
    assert (first.subject, first.clip, first.emotion, first.apex) == ("smic/s01", "s01_ne_01", "negative", None)
    # unpadded folder names kept in the paths; numeric order: image97..image101, not image100 first
    assert first.frames[0].endswith("SMIC_all_raw/HS/s1/micro/negative/s1_ne_01/image97.bmp")
    assert first.frame_numbers == (97, 98, 99, 100, 101)
    assert (first.onset, first.offset) == (97, 101)


@pytest.mark.parametrize("layout", ["HS", "SMIC_all_raw/HS", "."])
def test_root_layouts(tmp_path, layout):
    smic_from_list(tmp_path, ["s01_po_01", "s03_sur_02"], hs=layout)
    root = tmp_path if layout != "." else tmp_path
    scan = smic.scan(root)
    assert [s.sample_id for s in scan.samples] == ["smic/s01/s01_po_01", "smic/s03/s03_sur_02"]
    assert [s.emotion for s in scan.samples] == ["positive", "surprise"]


def test_raw_preferred_over_cropped_and_override(tmp_path):
    smic_from_list(tmp_path, ["s01_po_01"], hs="SMIC_all_cropped/HS")
    smic_from_list(tmp_path, ["s01_po_01"], hs="SMIC_all_raw/HS")
    scan = smic.scan(tmp_path)
    assert "SMIC_all_raw/HS/" in scan.samples[0].frames[0]
    assert "also found SMIC_all_cropped/HS" in scan.notes[0]
    assert "SMIC_all_cropped" in smic.scan(tmp_path, frames_dir="SMIC_all_cropped/HS").samples[0].frames[0]


def test_bad_clip_folders_are_excluded(tmp_path):
    hs = tmp_path / "HS"
    smic_from_list(tmp_path, ["s01_ne_01", "s01_po_01", "s02_sur_01"], hs="HS")
    write_frames(hs / "s1" / "micro" / "negative" / "s1_po_02", ["image1.bmp"])  # code says positive
    write_frames(hs / "s2" / "micro" / "surprise" / "s02_sur_01", ["image1.bmp"])  # padded twin of s2_sur_01
    (hs / "s1" / "micro" / "positive" / "s1_po_03").mkdir()  # empty
    write_frames(hs / "s1" / "micro" / "other" / "s1_ot_01", ["image1.bmp"])  # emotion outside the protocol
    scan = smic.scan(tmp_path)
    assert [s.clip for s in scan.samples] == ["s01_ne_01", "s01_ot_01", "s01_po_01"]
    reasons = {e.clip: e.reason.partition(":")[0] for e in scan.exclusions}
    assert reasons == {"s01_po_02": "clip name and emotion folder disagree",
                       "s01_po_03": "no frames in the clip folder",
                       "s02_sur_01": "duplicate clip folder"}
    assert sum(e.clip == "s02_sur_01" for e in scan.exclusions) == 2  # both copies


def test_no_hs_folder(tmp_path):
    with pytest.raises(DatasetError, match="SMIC-HS root not found"):
        smic.scan(tmp_path / "absent")
    write_frames(tmp_path / "VIS" / "s1" / "micro" / "negative" / "s1_ne_01", ["image1.bmp"])
    with pytest.raises(DatasetError, match=r"no SMIC-HS frames folder under .*: expected a folder holding "
                                           r"HS/s1/micro/negative/s1_ne_01/image069664\.bmp"):
        smic.scan(tmp_path)
    assert len(smic.scan(tmp_path, frames_dir="VIS").samples) == 1
    assert Path(smic_clip_folder(tmp_path, "s12_sur_03")).parts[-4:] == ("s12", "micro", "surprise", "s12_sur_03")
