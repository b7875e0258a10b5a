"""The demo adapter: the generated dataset read through the CASME II adapter, relabelled as "demo"."""

from __future__ import annotations

import json

from preprocessing.annotations.datasets import scan_dataset
from preprocessing.annotations.datasets.demo import demo_size, scan
from preprocessing.demo import GROUND_TRUTH, SMALL_DEMO


def test_scan_reads_every_clip_as_demo(small_demo):
    result = scan(small_demo, small=True)
    truth = {(c["subject"], c["clip"]): c for c in json.loads((small_demo / GROUND_TRUTH).read_text())["clips"]}
    assert result.dataset == "demo" and result.root == small_demo
    assert not result.exclusions
    assert len(result.samples) == len(truth)
    for sample in result.samples:
        assert sample.dataset == "demo" and sample.subject.startswith("demo/sub")
        clip = truth[(sample.subject.removeprefix("demo/"), sample.clip)]
        assert (sample.onset, sample.apex, sample.offset, sample.emotion) == (
            clip["onset"], clip["apex"], clip["offset"], clip["emotion"])
        assert list(sample.frame_numbers) == list(range(clip["onset"], clip["offset"] + 1))  # numeric order
        assert sample.frame_path(clip["apex"]).is_file()


def test_registry_options_reach_the_generator(small_demo):
    result = scan_dataset("demo", small_demo, small=True, seed=0)
    assert {s.subject for s in result.samples} == {"demo/sub01", "demo/sub02", "demo/sub03"}


def test_size_options():
    assert demo_size() == {}
    assert demo_size(small=True) == SMALL_DEMO
    assert demo_size(small=True, n_subjects=5) == {**SMALL_DEMO, "n_subjects": 5}
    assert demo_size(clips_per_subject=2) == {"clips_per_subject": 2}
