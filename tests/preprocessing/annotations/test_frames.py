from __future__ import annotations

import pytest

from preprocessing.annotations.frames import FrameError, frame_number, list_frames, natural_key
from tests.preprocessing.trees import write_frames


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("img46.jpg", 46),  # CASME II raw
        ("reg_img100.jpg", 100),  # CASME II cropped
        ("006_05562.jpg", 5562),  # SAMM: subject prefix, zero-padded frame
        ("image069664.bmp", 69664),  # SMIC
        ("1.jpg", 1),  # MMEW
        ("/data/sub01/EP02_01f/img7.JPG", 7),
    ],
)
def test_frame_number_reads_the_last_number_of_the_stem(name, number):
    assert frame_number(name) == number


def test_frame_number_without_digits_names_the_file():
    with pytest.raises(FrameError, match=r"cannot read a frame number from 'onset\.jpg': expected a file name ending"):
        frame_number("onset.jpg")


def test_list_frames_sorts_numerically_and_ignores_non_images(tmp_path):
    write_frames(tmp_path, ["img100.jpg", "img9.jpg", "img46.jpg", "img10.jpg"])
    (tmp_path / "Thumbs.db").write_bytes(b"x")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    frames = list_frames(tmp_path)
    assert frames.numbers == (9, 10, 46, 100)  # string order would give 10, 100, 46, 9
    assert [p.rsplit("/", 1)[1] for p in frames.paths] == ["img9.jpg", "img10.jpg", "img46.jpg", "img100.jpg"]
    assert frames.describe() == "4 frames 9..100"
    assert frames.missing({"onset": 9, "apex": 50, "offset": None}) == ["apex 50"]


def test_list_frames_errors(tmp_path):
    with pytest.raises(FrameError, match="^clip folder missing: "):
        list_frames(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FrameError, match="^no frames in the clip folder: expected image files"):
        list_frames(tmp_path / "empty")
    write_frames(tmp_path / "dup", ["img1.jpg", "img01.jpg"])
    with pytest.raises(FrameError, match=r"^two frame files share a number: 1 \("):
        list_frames(tmp_path / "dup")
    write_frames(tmp_path / "odd", ["img1.jpg", "cover.jpg"])
    with pytest.raises(FrameError, match="^unnumbered frame file: cover.jpg in "):
        list_frames(tmp_path / "odd")


def test_natural_key_orders_numbers_numerically():
    names = ["s10_ne_01", "s2_ne_10", "s2_ne_2", "EP10_1", "EP2_1"]
    assert sorted(names, key=natural_key) == ["EP2_1", "EP10_1", "s2_ne_2", "s2_ne_10", "s10_ne_01"]
