"""The benchmark family's settings (``benchmarks/_settings.py``): each is a valid demo, and the SMIC-shaped one
has no apex in what the pipeline reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _settings  # noqa: E402

from preprocessing.demo.config import make_config  # noqa: E402


@pytest.mark.parametrize("name", list(_settings.SETTINGS))
def test_every_setting_is_a_valid_demo_configuration(name):
    preset, params = _settings.SETTINGS[name]
    generator = {k: v for k, v in params.items() if k not in _settings.SHEET_KEYS}
    config = make_config(preset, **generator)
    assert config.n_clips >= 60


def test_sheet_apex_false_drops_the_apex_and_keeps_the_rest(tmp_path, monkeypatch):
    """The ``smic`` setting's sheet key: the pipeline must spot every apex (``Sample.apex is None``), while
    labels, clips and onsets are those of the same demo read with its apex."""
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path))
    size = {"n_subjects": 3, "clips_per_subject": 3, "min_frames": 8, "max_frames": 10}
    with_apex = _settings.demo_selection("realistic", 0, size).protocol.samples
    without = _settings.demo_selection("realistic", 0, {**size, "sheet_apex": False}).protocol.samples
    assert len(without) == len(with_apex) == 9
    assert all(s.apex is None for s in without) and all(s.apex is not None for s in with_apex)
    strip = [(s.clip, s.label, s.onset, s.offset) for s in without]
    assert strip == [(s.clip, s.label, s.onset, s.offset) for s in with_apex]


def test_a_changed_generator_gets_a_new_features_folder(monkeypatch):
    """The pipeline's cache check compares clip names only, and a preset's new version keeps them: the folder
    name must change with the preset's version (or stale features would be scored as the new preset)."""
    from preprocessing.demo import config

    before, easy = _settings.features_folder_name("realistic", 3, {}), _settings.features_folder_name("easy", 3, {})
    assert before != _settings.features_folder_name("hard", 3, {})
    assert before != _settings.features_folder_name("realistic", 3, {"wrinkle_depth": 0.0})
    monkeypatch.setitem(config.PRESET_VERSIONS, "realistic", config.PRESET_VERSIONS["realistic"] + 1)
    assert _settings.features_folder_name("realistic", 3, {}) != before
    monkeypatch.setattr(config, "VERSION", config.VERSION + 1)
    assert _settings.features_folder_name("easy", 3, {}) != easy  # the easy demo has the generator's version only
