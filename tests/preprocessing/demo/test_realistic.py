"""The realistic preset: deterministic, its own cache key, and the easy / hard outputs unchanged by it.

The fingerprints below were taken from the generator BEFORE the realistic preset existed (its knobs are new
``DemoConfig`` fields left out of a hard demo.json at their defaults, and a branch hard clips never take). Plans
are pure numpy draws, so their fingerprints hold on any machine; the rendered files' fingerprints additionally
depend on the OpenCV / libjpeg / openpyxl builds (generate.py's docstring), so those tests are ``slow``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from preprocessing.demo import MANIFEST, PRESETS, SMALL_DEMO, VERSION, default_root, generate_demo, make_config
from preprocessing.demo.config import LATER_FIELDS, REALISTIC_VERSION, manifest
from preprocessing.demo.hard import CLASS_MIXTURES
from preprocessing.demo.planning import plan_demo
from preprocessing.demo.render import plan_record
from tests.preprocessing.demo.conftest import tree_hashes

PLAN_FINGERPRINTS = {  # sha256 of the JSON of plan_demo(seed, make_config(preset)), taken before "realistic"
    ("easy", 0): "289ed829fef590561dc06fc8463e2065c3ce6362d7b89881639b8c489b2ab689",
    ("hard", 0): "a335c8f651b5e64ab9fbdf28bc7b6f5855b7a46eb88fbbc1be230acdf9029d66",
    ("hard", 3): "9712ce905e1fa9b98961e9bfe62c9540719dcaee7a1e92dcc84c43dab85fb61d",
}
MANIFEST_FINGERPRINTS = {  # sha256 of json.dumps(manifest(0, make_config(preset)), sort_keys=True)
    "easy": "cf5d302cbc95a88cc989cb882c3ebc0988207be0bd551ebc8a706ea56267939c",
    "hard": "100661bfc28d0c58e8bbd7f2fa87651473354989f30445630857d1b62c7c26e2",
}
FILE_FINGERPRINTS = {  # sha256 of the sorted {path: sha256} of a SMALL_DEMO's files, seed 0
    "easy": "43f54246b88283dac5063836e13a1903ed5332585970cb80b7a47db470e42e99",
    "hard": "0a9d82f72fe3d9af32a63de36dd11aed0a12cd58614054ff9f7a74a1a968b26b",
}


def plan_fingerprint(preset: str, seed: int, **params) -> str:
    subjects, clips = plan_demo(seed, make_config(preset, **params))
    blob = json.dumps([subjects, [plan_record(c) for c in clips]], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@pytest.mark.parametrize(("preset", "seed"), list(PLAN_FINGERPRINTS))
def test_easy_and_hard_plans_are_unchanged(preset, seed):
    assert plan_fingerprint(preset, seed) == PLAN_FINGERPRINTS[(preset, seed)]


@pytest.mark.parametrize("preset", list(MANIFEST_FINGERPRINTS))
def test_easy_and_hard_manifests_are_unchanged(preset):
    """demo.json is the cache key: the new fields stay out of it at their defaults, so caches stay valid."""
    found = manifest(0, make_config(preset))
    assert not set(LATER_FIELDS) & set(found["params"])
    assert hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest() == MANIFEST_FINGERPRINTS[preset]


def test_the_realistic_preset_has_its_own_cache_key(monkeypatch, tmp_path):
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path))
    assert default_root(0, "realistic") == tmp_path / "demo" / f"v{VERSION}-seed0-realistic{REALISTIC_VERSION}"
    found = manifest(0, make_config("realistic"))
    assert found["preset"] == "realistic" and found["preset_version"] == REALISTIC_VERSION
    assert found["params"]["one_sided_weight"] == PRESETS["realistic"]["one_sided_weight"]
    assert default_root(0, "realistic", **SMALL_DEMO) != default_root(0, "hard", **SMALL_DEMO)


def test_the_easy_preset_refuses_the_new_knobs():
    with pytest.raises(ValueError, match="one_sided_weight"):
        make_config("easy", one_sided_weight=0.5)
    with pytest.raises(ValueError, match="one_sided_weight"):
        make_config("realistic", one_sided_weight=-1.0)


def test_the_realistic_plan_is_deterministic_and_seeded():
    assert plan_fingerprint("realistic", 0) == plan_fingerprint("realistic", 0)
    assert plan_fingerprint("realistic", 0) != plan_fingerprint("realistic", 1)
    assert plan_fingerprint("realistic", 0) != plan_fingerprint("hard", 0)


def test_the_realistic_plan_has_fewer_one_sided_clips_and_no_invisible_ones():
    """Its two knobs, measured on ~10,000 planned clips: one-sided combinations are rarer than in the hard
    preset, and no clip's amplitude is below the realistic floor."""
    size = {"n_subjects": 99, "clips_per_subject": 100}
    one_sided = {combo for mix in CLASS_MIXTURES.values() for combo, _, _, side in mix if side}

    def stats(preset):
        clips = plan_demo(5, make_config(preset, **size))[1]
        share = np.mean([tuple(c.action_units) in one_sided and abs(c.components[0][-1]) > 0.5 for c in clips])
        return share, min(c.amplitude_224 for c in clips)

    hard_share, hard_min = stats("hard")
    real_share, real_min = stats("realistic")
    assert real_share < 0.6 * hard_share
    assert real_min >= PRESETS["realistic"]["amplitude_limits"][0] > hard_min


def _check_later_knob(name: str, *, set_to, invalid, easy) -> None:
    """A LATER_FIELDS knob: out of the manifest at its default, in it when set, refused when invalid or on easy."""
    assert name not in manifest(0, make_config("realistic"))["params"]
    assert manifest(0, make_config("realistic", **{name: set_to}))["params"][name] == set_to
    with pytest.raises(ValueError, match=name):
        make_config("realistic", **{name: invalid})
    with pytest.raises(ValueError, match=name):
        make_config("easy", **{name: easy})


def test_crossing_weight_zero_gives_classes_their_own_aus():
    """``crossing_weight=0``: no clip's motion uses another class's AU (the label follows the AUs); at its default
    the crossing combinations are drawn (and the knob stays out of the manifest)."""
    from preprocessing.demo.hard import HOME_AUS

    size = {"n_subjects": 30, "clips_per_subject": 20}

    def crossing_share(**params):
        clips = plan_demo(2, make_config("realistic", **size, **params))[1]
        return np.mean([not set(c.action_units) <= HOME_AUS[c.label] for c in clips])

    assert crossing_share() > 0.1
    assert crossing_share(crossing_weight=0.0) == 0.0
    _check_later_knob("crossing_weight", set_to=0.0, invalid=-0.5, easy=0.5)


def test_combinations_per_class_keeps_each_class_to_its_k_most_likely_combinations():
    """``combinations_per_class=k``: every clip's AU combination is one of its class's k most likely ones (after
    the other weights: with ``crossing_weight=0`` no crossing combination is among them); at its default (0) every
    combination can be drawn, and the knob stays out of the manifest."""
    from preprocessing.demo.hard import CLASS_MIXTURES, HOME_AUS

    size = {"n_subjects": 30, "clips_per_subject": 20}

    def combos(**params):
        clips = plan_demo(2, make_config("realistic", **size, **params))[1]
        found = {label: set() for label in CLASS_MIXTURES}
        for c in clips:
            found[c.label].add(tuple(c.action_units))
        return found

    assert all(len(found) > 2 for found in combos().values())
    kept = combos(combinations_per_class=2, crossing_weight=0.0, one_sided_weight=0.0)
    assert kept == {"positive": {(12,), (6, 12)}, "surprise": {(1, 2), (1, 2, 5)}, "negative": {(4,), (4, 7)}}
    assert all(set(combo) <= HOME_AUS[label] for label, found in kept.items() for combo in found)
    _check_later_knob("combinations_per_class", set_to=1, invalid=-1, easy=1)


def test_random_class_structure_draws_new_classes_per_seed_and_keeps_the_rest():
    """``class_structure="random"``: each class's motions use its own random home AUs (plus one weak confuser from
    another class), the design differs between seeds, and everything but the motions (labels, clip names, frame
    counts) is the default design's."""
    from preprocessing.demo.class_design import HOME_SIZE, class_design

    size = {"n_subjects": 30, "clips_per_subject": 8}
    designs = [class_design(seed, "random") for seed in (0, 1)]
    assert designs[0].home_aus != designs[1].home_aus
    for design in designs:
        homes = list(design.home_aus.values())
        assert all(len(home) == HOME_SIZE for home in homes) and len(frozenset().union(*homes)) == 3 * HOME_SIZE
    default = plan_demo(0, make_config("realistic", **size))[1]
    clips = plan_demo(0, make_config("realistic", class_structure="random", **size))[1]
    assert [(c.clip, c.label, c.n_frames) for c in clips] == [(c.clip, c.label, c.n_frames) for c in default]
    homes = designs[0].home_aus
    own = np.mean([set(c.action_units) <= homes[c.label] for c in clips])
    assert 0.7 < own < 1.0  # mostly home AUs; the rest carry the weak confuser
    assert all(len(set(c.action_units) - homes[c.label]) <= 1 for c in clips)
    assert "class_structure" not in manifest(0, make_config("realistic"))["params"]
    with pytest.raises(ValueError, match="class_structure"):
        make_config("realistic", class_structure="shuffled")


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(FILE_FINGERPRINTS))
def test_easy_and_hard_files_are_unchanged(preset, tmp_path):
    """Byte-level: the small demos' files are what they were before the realistic preset (same library builds)."""
    root = generate_demo(tmp_path / preset, seed=0, preset=preset, **SMALL_DEMO)
    found = hashlib.sha256(json.dumps(tree_hashes(root), sort_keys=True).encode()).hexdigest()
    assert found == FILE_FINGERPRINTS[preset]


@pytest.mark.slow
def test_same_seed_same_realistic_files(tmp_path):
    first = generate_demo(tmp_path / "a", seed=0, preset="realistic", **SMALL_DEMO)
    second = generate_demo(tmp_path / "b", seed=0, preset="realistic", **SMALL_DEMO)
    assert json.loads((first / MANIFEST).read_text())["preset"] == "realistic"
    hashes = tree_hashes(first)
    assert len(hashes) > 50 and hashes == tree_hashes(second)
