"""The long-video demo: deterministic at a tiny size, its sheet reads back to its ground truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from preprocessing.annotations.sample import DatasetError
from preprocessing.long_videos.demo import GROUND_TRUTH, SHEET_NAME, LongDemoConfig, generate_long_demo, load_truth
from preprocessing.long_videos.sheets import read_casme2_long

# smaller than SMOKE: 2 subjects x 5 s, one micro and one macro expression each (a few seconds of CPU)
TINY = {"n_subjects": 2, "videos_per_subject": 1, "seconds": 5.0, "macro_frames": (20, 45),
        "micro_per_video": (1, 1), "macro_per_video": (1, 1)}


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate_long_demo(tmp_path_factory.mktemp("long") / "a", seed=3, **TINY)


def test_same_seed_same_bytes(tiny: Path, tmp_path: Path):
    again = generate_long_demo(tmp_path / "b", seed=3, **TINY)
    assert _digest(tiny) == _digest(again)
    other = generate_long_demo(tmp_path / "c", seed=4, **TINY)
    assert json.loads((other / GROUND_TRUTH).read_text()) != json.loads((tiny / GROUND_TRUTH).read_text())


def test_layout_sheet_and_truth_agree(tiny: Path):
    truth = load_truth(tiny)
    assert sorted(truth) == sorted(p.relative_to(tiny / "rawpic").as_posix()
                                   for p in (tiny / "rawpic").glob("s*/*"))
    data = read_casme2_long(tiny / SHEET_NAME)
    assert data.skips == []
    read = {(f"{i.subject}/{i.video}", i.onset, i.apex, i.offset, i.kind, i.emotion) for i in data.intervals}
    expected = {(key, e["onset"], e["apex"], e["offset"], e["kind"], e["emotion"])
                for key, items in truth.items() for e in items}
    assert read == expected
    fps = LongDemoConfig().fps
    for key, items in truth.items():
        assert {e["kind"] for e in items} == {"micro", "macro"}
        for e in items:
            frames = e["offset"] - e["onset"] + 1
            assert (frames <= fps // 2) if e["kind"] == "micro" else (frames > fps // 2)
        assert data.videos[key]["n_frames"] == int(TINY["seconds"] * fps)


def test_refuses_a_non_empty_folder_and_bad_sizes(tmp_path: Path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        generate_long_demo(tmp_path / "x", **TINY)
    with pytest.raises(ValueError, match="micro_frames"):
        LongDemoConfig(micro_frames=(5, 40))
