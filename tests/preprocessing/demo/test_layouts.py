"""The multi-layout demo: written once, read back by each release's REAL adapter, default demo untouched."""

from __future__ import annotations

import json

import pytest

from preprocessing.annotations.datasets import (
    forward_demo_options,
    only_demo,
    parse_dataset_options,
    scan_datasets,
)
from preprocessing.annotations.protocols import apply_protocol
from preprocessing.demo import default_root
from preprocessing.demo.layouts import ensure_layouts, is_current, layouts_root, parse_layouts

TINY = {"n_subjects": 3, "clips_per_subject": 2}  # what the adapters' n_subjects / clips_per_subject give


@pytest.fixture(scope="module")
def layouts_demo(tmp_path_factory):
    return ensure_layouts(tmp_path_factory.mktemp("layouts") / "demo", seed=0, **TINY)


def test_each_layout_reads_back_through_its_release_adapter(layouts_demo):
    specs = [(name, layouts_demo) for name in ("demo-casme2", "demo-samm", "demo-casme3")]
    scans = scan_datasets(specs, {"demo": dict(TINY)})  # demo.KEY options reach every layout
    assert [len(s.samples) for s in scans] == [2, 2, 2] and not any(s.exclusions for s in scans)
    casme2, samm, casme3 = scans
    assert casme2.samples[0].subject == "demo-casme2/sub01"
    assert samm.samples[0].subject == "demo-samm/002" and samm.samples[0].clip == "002_1_1"
    assert all(s.action_units.startswith("AU") for s in samm.samples)  # SAMM's spelling, "AU4+AU15"
    assert "header row 14" in samm.notes[1]  # the real SAMM adapter found the header under its preamble
    assert casme3.samples[0].subject == "demo-casme3/spNO.3"
    second = casme3.samples[1]  # the second clip of video "a", numbered +1000, trimmed to onset..offset
    assert second.clip == f"a_{second.onset}" and second.onset >= 1000
    assert second.frame_numbers == tuple(range(second.onset, second.offset + 1))
    result = apply_protocol("3class", scans)
    assert len(result.samples) == 6 and not result.exclusions
    mapping = json.loads((layouts_demo / "layouts.json").read_text())
    assert mapping["subjects"] == {"sub01": "demo-casme2", "sub02": "demo-samm", "sub03": "demo-casme3"}
    assert {c["dataset"] for c in mapping["clips"]} == {"demo-casme2", "demo-samm", "demo-casme3"}


def test_reused_when_current_and_apart_from_the_default_demo(layouts_demo):
    assert is_current(layouts_demo, seed=0, **TINY)
    assert ensure_layouts(layouts_demo, seed=0, **TINY) == layouts_demo
    assert layouts_root(0) != default_root(0) and layouts_root(0).name == f"{default_root(0).name}-layouts-" \
                                                                          "casme2-samm-casme3"


def test_layout_names_and_demo_options():
    assert parse_layouts("casme3, casme2") == ("casme2", "casme3")
    with pytest.raises(ValueError, match="expected distinct names among casme2, samm, casme3"):
        parse_layouts("casme2,smic")
    assert only_demo(["demo"]) and only_demo(["demo-samm", "demo-casme3"]) and not only_demo(["demo", "casme2"])
    options = parse_dataset_options(["demo.seed=3", "demo.small=true", "demo-samm.seed=5"])
    assert forward_demo_options(options, ["demo-casme2", "demo-samm"]) == {
        "demo-casme2": {"seed": 3, "small": True}, "demo-samm": {"seed": 5, "small": True}}
    assert forward_demo_options(options, ["demo"]) == options
