"""MEGC interval matching on hand-made cases: IoU boundary, one-to-one, pooling over videos, micro / macro, STRS."""

from __future__ import annotations

import pytest

from mer_ray.spotting.intervals import Counts, Interval, evaluate_spotting, evaluate_str, iou, match_video


def micro(a, b, emotion=None):
    return Interval(a, b, "micro", emotion)


def macro(a, b, emotion=None):
    return Interval(a, b, "macro", emotion)


def test_iou_counts_frames_inclusively():
    assert iou((1, 10), (1, 10)) == 1.0
    assert iou((1, 10), (11, 20)) == 0.0
    assert iou((1, 10), (10, 19)) == pytest.approx(1 / 19)  # one shared frame
    assert iou((1, 4), (3, 6)) == pytest.approx(2 / 6)


def test_iou_exactly_one_half_is_a_hit():
    truth = {"v": [micro(1, 10)]}
    assert iou((1, 5), (1, 10)) == 0.5  # 5 of 10 frames
    hit = evaluate_spotting({"v": [micro(1, 5)]}, truth)
    assert (hit.micro.tp, hit.micro.fp, hit.micro.fn) == (1, 0, 0)
    miss = evaluate_spotting({"v": [micro(1, 4)]}, truth)  # 4 / 10 < 0.5
    assert (miss.micro.tp, miss.micro.fp, miss.micro.fn) == (0, 1, 1)


def test_one_spot_cannot_match_two_truths():
    # one long spot overlapping two short truths with IoU >= 0.5 each would count twice in the MEGC scripts
    truth = [micro(1, 10), micro(11, 20)]
    spotted = [Interval(1, 20, "micro")]
    assert iou(spotted[0], truth[0]) == 0.5 and iou(spotted[0], truth[1]) == 0.5
    m = match_video(spotted, truth)
    assert len(m.pairs) == 1 and m.missed == [1] and m.false_spots == []


def test_two_spots_on_one_truth_give_one_tp_and_one_fp():
    r = evaluate_spotting({"v": [micro(1, 10), micro(2, 10)]}, {"v": [micro(1, 10)]})
    assert (r.micro.tp, r.micro.fp, r.micro.fn) == (1, 1, 0)
    assert r.matches["v"].pairs[0][0] == 0  # the better (IoU 1.0) spot is the one matched


def test_matching_prefers_the_pairing_with_higher_iou():
    truth = [micro(10, 20), micro(22, 32)]
    spotted = [micro(12, 22), micro(21, 31)]
    m = match_video(spotted, truth)
    assert sorted((i, j) for i, j, _ in m.pairs) == [(0, 0), (1, 1)]


def test_counts_are_pooled_over_videos_not_averaged():
    truth = {"a": [micro(1, 10)], "b": [micro(1, 10), micro(50, 60), micro(100, 110)], "c": []}
    spotted = {"a": [micro(1, 10)], "b": [micro(200, 210)], "c": [micro(5, 9), micro(30, 40)]}
    r = evaluate_spotting(spotted, truth)
    assert (r.micro.tp, r.micro.fp, r.micro.fn) == (1, 3, 3)
    assert r.micro.precision == pytest.approx(1 / 4)
    assert r.micro.recall == pytest.approx(1 / 4)
    assert r.micro.f1 == pytest.approx(0.25)  # per-video mean F1 would be (1 + 0 + 0) / 3


def test_micro_and_macro_are_matched_separately_and_pooled_overall():
    truth = {"v": [micro(10, 20), macro(40, 100)]}
    spotted = {"v": [macro(10, 20), macro(45, 100), micro(200, 205)]}
    r = evaluate_spotting(spotted, truth)
    assert (r.micro.tp, r.micro.fp, r.micro.fn) == (0, 1, 1)  # a macro spot on a micro truth does not count
    assert (r.macro.tp, r.macro.fp, r.macro.fn) == (1, 1, 0)
    assert (r.overall.tp, r.overall.fp, r.overall.fn) == (1, 2, 1)


def test_kindless_spots_match_either_kind():
    r = evaluate_spotting({"v": [Interval(10, 20), Interval(300, 310)]}, {"v": [micro(10, 20)]})
    assert (r.micro.tp, r.overall.tp, r.overall.fp, r.overall.fn) == (1, 1, 1, 0)


def test_empty_and_unknown_videos():
    assert evaluate_spotting({}, {"v": []}).overall.f1 == 0.0
    assert Counts().precision == Counts().recall == Counts().f1 == 0.0
    with pytest.raises(KeyError, match="without ground truth"):
        evaluate_spotting({"x": [micro(1, 2)]}, {"v": []})
    with pytest.raises(ValueError, match="onset <= offset"):
        Interval(5, 4)


def test_spot_then_recognise_score():
    truth = {"v": [micro(1, 10, "positive"), micro(20, 30, "negative"), micro(40, 50, "surprise"),
                   micro(60, 70, "negative")]}
    spotted = {"v": [micro(1, 10, "positive"), micro(20, 30, "positive"), micro(40, 50, "surprise"),
                     micro(100, 110, "negative")]}
    r = evaluate_str(spotted, truth)
    assert (r.spotting.tp, r.spotting.fp, r.spotting.fn) == (3, 1, 1)
    assert r.analysis["positive"].as_dict()["tp"] == 1 and r.analysis["positive"].fp == 1
    assert (r.analysis["negative"].tp, r.analysis["negative"].fn) == (0, 1)
    precision = (0.5 + 0.0 + 1.0) / 3
    recall = (1.0 + 0.0 + 1.0) / 3
    assert r.precision == pytest.approx(precision) and r.recall == pytest.approx(recall)
    assert r.f1 == pytest.approx(2 * precision * recall / (precision + recall))
    assert r.strs == pytest.approx(r.spotting.f1 * r.f1)
    assert r.spotting.f1 == pytest.approx(0.75)
