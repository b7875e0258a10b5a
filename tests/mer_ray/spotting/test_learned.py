"""The learned spotter: per-frame features of one video, and folds that never read the held-out labels."""

from __future__ import annotations

import numpy as np

from mer_ray.spotting.baseline import SpotterConfig
from mer_ray.spotting.intervals import Interval, evaluate_spotting
from mer_ray.spotting.learned import (
    IntervalRule,
    LearnedConfig,
    frame_features,
    intervals_from_probability,
    learned_fold,
)
from mer_ray.spotting.methods import SPOTTERS, FoldOutcome
from tests.mer_ray.spotting._synthetic import dataset, summary


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


def test_held_out_annotations_are_never_read():
    summaries, truth, subject_of = dataset()
    config = LearnedConfig(inner_folds=3)
    first = learned_fold(summaries, truth, subject_of, "s0", 30.0, config)
    scrambled = dict(truth)
    scrambled["s0/v"] = [Interval(5, 30, "macro"), Interval(400, 408, "micro")]  # wrong labels for the held-out one
    second = learned_fold(summaries, scrambled, subject_of, "s0", 30.0, config)
    without = learned_fold(summaries, {k: v for k, v in truth.items() if k != "s0/v"}, subject_of, "s0", 30.0, config)
    assert first.intervals == second.intervals == without.intervals
    assert (first.micro, first.macro) == (second.micro, second.macro)
    np.testing.assert_array_equal(first.probabilities["s0/v"], second.probabilities["s0/v"])
    assert set(first.intervals) == {"s0/v"}


def test_learned_spotter_finds_the_planted_events_out_of_fold():
    summaries, truth, subject_of = dataset()
    spotted = {}
    for subject in sorted(set(subject_of.values())):
        outcome = SPOTTERS["learned"](summaries, {k: v for k, v in truth.items() if subject_of[k] != subject},
                                      subject_of, subject, 30.0)
        assert FoldOutcome.from_dict(outcome.to_dict()).intervals == outcome.intervals
        spotted.update(outcome.intervals)
    result = evaluate_spotting(spotted, truth)
    assert result.overall.f1 >= 0.5, result.as_dict()
