"""The learned spotter: per-frame features of one video, and folds that never read the held-out labels."""

from __future__ import annotations

import numpy as np
import pytest

from mer_ray.spotting.baseline import SpotterConfig
from mer_ray.spotting.intervals import Interval, evaluate_spotting
from mer_ray.spotting.learned import (
    IntervalRule,
    LearnedConfig,
    choose_rules,
    frame_features,
    intervals_from_probability,
    learned_fold,
)
from mer_ray.spotting.methods import SPOTTERS, FoldOutcome
from tests.mer_ray.spotting._synthetic import dataset, flow_dataset, summary


def test_features_depend_on_the_video_only_and_are_finite():
    a = summary(300, [100], [200], seed=0)
    b = summary(300, [100], [200], seed=0)
    b.mags = {k: v * 3.0 for k, v in b.mags.items()}  # a noisier recording: the same after per-video normalising
    fa, fb = frame_features(a, (6, 15)), frame_features(b, (6, 15))
    assert fa.shape[0] == 300 and np.isfinite(fa).all()
    z = fa[:, 0]
    assert np.argmax(z[20:-20]) + 20 in range(195, 206) and z[100] > 3  # both bumps stand out at their frames
    np.testing.assert_allclose(fa[:, 0], fb[:, 0], atol=1e-3)  # robust z-score: scale-free


def test_intervals_from_probability_peak_and_run_modes():
    prob = np.zeros(200)
    prob[50:59] = 0.9
    prob[120:180] = 0.8
    shape = SpotterConfig.micro_for(30, k=6)
    peaks = intervals_from_probability(prob, IntervalRule("micro", 0.5, 1, "peak"), shape)
    assert [(i.onset, i.offset) for i in peaks][0] == (59 - shape.left, 59 + shape.right)  # plateau: its last frame
    runs = intervals_from_probability(prob, IntervalRule("micro", 0.5, 1, "run"), shape)
    assert [(i.onset, i.offset) for i in runs] == [(51, 59)]  # the 60-frame run is too long for a micro
    macro = intervals_from_probability(prob, IntervalRule("macro", 0.5, 1, "run"), SpotterConfig.macro_for(30))
    assert [(i.onset, i.offset) for i in macro] == [(121, 180)]  # the 9-frame run is too short for a macro


def test_extent_mode_follows_the_probability_around_each_peak():
    prob = np.zeros(300)
    prob[40:50] = np.linspace(0.2, 0.9, 10)  # rises to its peak at 49, falls below half of it at 53
    prob[50:53] = 0.6
    prob[150:230] = 0.7
    prob[190] = 0.95
    rule = IntervalRule("macro", 0.5, 1, "extent", fraction=0.5)
    spans = [(i.onset - 1, i.offset - 1) for i in intervals_from_probability(prob, rule, SpotterConfig.macro_for(30))]
    assert spans == [(150, 229)]  # the short bump is too short for a macro; the long one: its whole extent
    micro = IntervalRule("micro", 0.5, 1, "extent", fraction=0.5)
    shape = SpotterConfig.micro_for(30, k=6)
    spans = [(i.onset - 1, i.offset - 1) for i in intervals_from_probability(prob, micro, shape)]
    assert spans[0] == (44, 52)  # >= 0.45 (half the peak) from frame 44 (0.51; 0.43 at 43) to 52
    assert spans[1] == (190 - shape.left, 190 + shape.right)  # an 80-frame extent is no micro: the fixed window


def test_no_micro_spots_is_a_choice_when_micro_rules_only_add_false_spots():
    summaries, truth, _ = dataset(n_subjects=2)
    keys = sorted(summaries)
    probs = {}
    for key in keys:
        p = np.zeros((450, 3))
        for start in (20, 100, 300, 380):
            p[start:start + 9, 1] = 0.95  # micro-like bumps nowhere near the truth: every micro rule spots them
        for g in truth[key]:
            if g.kind == "macro":
                p[g.onset - 1:g.offset, 2] = 0.9
        probs[key] = p
    micro_shape, macro_shape = SpotterConfig.micro_for(30, k=6), SpotterConfig.macro_for(30, k=15)
    micro, macro, f1 = choose_rules(probs, summaries, truth, keys, micro_shape, macro_shape)
    assert micro.threshold > 1 and f1 == 0.5  # never above: no micro spots; every macro found, no micro
    micro, _, _ = choose_rules(probs, summaries, truth, keys, micro_shape, macro_shape, allow_none=False)
    assert micro.threshold <= 1


@pytest.mark.parametrize("make", [dataset, flow_dataset], ids=["magnitudes", "rich-features"])
def test_held_out_annotations_are_never_read(make):
    summaries, truth, subject_of = make()
    config = LearnedConfig(inner_folds=3)
    if make is flow_dataset:  # the richer features (regions, return to neutral, head motion, deformation) are used
        assert frame_features(summaries["s0/v"], (6, 15)).shape[1] > frame_features(summaries["s0/v"], (6, 15),
                                                                                     rich=False).shape[1]
    first = learned_fold(summaries, truth, subject_of, "s0", 30.0, config)
    scrambled = dict(truth)
    scrambled["s0/v"] = [Interval(5, 30, "macro"), Interval(400, 408, "micro")]  # wrong labels for the held-out one
    second = learned_fold(summaries, scrambled, subject_of, "s0", 30.0, config)
    without = learned_fold(summaries, {k: v for k, v in truth.items() if k != "s0/v"}, subject_of, "s0", 30.0, config)
    assert first.intervals == second.intervals == without.intervals
    assert (first.micro, first.macro) == (second.micro, second.macro)
    np.testing.assert_array_equal(first.probabilities["s0/v"], second.probabilities["s0/v"])
    assert set(first.intervals) == {"s0/v"}


@pytest.mark.parametrize("make", [dataset, flow_dataset], ids=["magnitudes", "rich-features"])
def test_learned_spotter_finds_the_planted_events_out_of_fold(make):
    summaries, truth, subject_of = make()
    spotted = {}
    for subject in sorted(set(subject_of.values())):
        outcome = SPOTTERS["learned"](summaries, {k: v for k, v in truth.items() if subject_of[k] != subject},
                                      subject_of, subject, 30.0)
        assert FoldOutcome.from_dict(outcome.to_dict()).intervals == outcome.intervals
        spotted.update(outcome.intervals)
    result = evaluate_spotting(spotted, truth)
    assert result.overall.f1 >= 0.5, result.as_dict()
