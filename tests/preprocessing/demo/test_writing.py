"""writing.py: a clip whose summed displacement folds loses its blink (said in the log), never its label's motion."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from preprocessing.demo import writing
from preprocessing.demo.config import SMALL_DEMO, DemoConfig
from preprocessing.demo.planning import plan_demo
from preprocessing.demo.warp import FoldingFieldError


def _plan(blink_start: int):
    _, clips = plan_demo(0, DemoConfig(**SMALL_DEMO))
    return dataclasses.replace(clips[0], blink_start=blink_start, blink_duration=4, blink_closure=0.9)


def test_a_folding_blink_is_dropped_and_said(monkeypatch, caplog):
    rendered_plans = []

    def render(subject, plan):
        rendered_plans.append(plan)
        if plan.blink_start >= 0:
            raise FoldingFieldError("invert_displacement: no convergence; the field folds")
        return "frames"

    monkeypatch.setattr(writing, "render_clip", render)
    plan = _plan(blink_start=3)
    with caplog.at_level(logging.WARNING, logger="preprocessing.demo.writing"):
        rendered_plan, rendered = writing._render_unfolded(None, plan)
    assert rendered == "frames"
    assert (rendered_plan.blink_start, rendered_plan.blink_duration, rendered_plan.blink_closure) == (-1, 0, 0.0)
    assert dataclasses.replace(rendered_plan, blink_start=3, blink_duration=4, blink_closure=0.9) == plan  # only that
    assert len(rendered_plans) == 2
    assert f"demo clip {plan.subject}/{plan.clip}: blink dropped" in caplog.text


def test_a_clip_that_renders_keeps_its_plan(monkeypatch):
    monkeypatch.setattr(writing, "render_clip", lambda subject, plan: "frames")
    plan = _plan(blink_start=3)
    assert writing._render_unfolded(None, plan) == (plan, "frames")


def test_a_clip_that_folds_without_a_blink_is_a_clear_error(monkeypatch):
    def render(subject, plan):
        raise FoldingFieldError("the field folds")

    monkeypatch.setattr(writing, "render_clip", render)
    plan = _plan(blink_start=-1)
    with pytest.raises(RuntimeError, match=f"demo clip {plan.subject}/{plan.clip}: its displacement folds"):
        writing._render_unfolded(None, plan)
