"""TV-L1 flow (real OpenCV), flow features, optical strain and endpoint error."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from preprocessing.vision.flow import (
    FEATURE_NAMES,
    FlowConfig,
    endpoint_error,
    flow_features,
    optical_strain,
    tvl1_flow,
)
from preprocessing.vision.masks import build_mask
from tests.preprocessing._faces import aligned_astronaut, bump_field, expression_field, to_uint8, warp_exact

GETTERS = {
    "tau": "getTau", "lambda_": "getLambda", "theta": "getTheta", "nscales": "getScalesNumber",
    "warps": "getWarpingsNumber", "epsilon": "getEpsilon", "innnerIterations": "getInnerIterations",
    "outerIterations": "getOuterIterations", "scaleStep": "getScaleStep", "gamma": "getGamma",
    "medianFiltering": "getMedianFiltering", "useInitialFlow": "getUseInitialFlow",
}  # fmt: skip


def test_opencv_defaults_are_opencvs_own():
    solver = cv2.optflow.DualTVL1OpticalFlow_create()
    defaults = FlowConfig.opencv_defaults()
    assert {f.name for f in dataclasses.fields(FlowConfig)} == set(GETTERS)
    for name, getter in GETTERS.items():
        assert getattr(defaults, name) == pytest.approx(getattr(solver, getter)()), name


def test_every_parameter_reaches_the_solver():
    config = FlowConfig(
        tau=0.2,
        lambda_=0.2,
        theta=0.4,
        nscales=2,
        warps=2,
        epsilon=0.03,
        innnerIterations=7,
        outerIterations=3,
        scaleStep=0.6,
        gamma=0.1,
        medianFiltering=3,
        useInitialFlow=False,
    )
    solver = config.create()
    for name, getter in GETTERS.items():
        assert getattr(solver, getter)() == pytest.approx(getattr(config, name)), name


def test_config_round_trip_and_validation():
    config = FlowConfig(nscales=2)
    assert FlowConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown keys"):
        FlowConfig.from_dict({"lambda": 0.1})
    with pytest.raises(ValueError, match="medianFiltering=4"):
        FlowConfig(medianFiltering=4)


def test_known_smooth_displacement_recovered_inside_the_mask(rng):
    face, landmarks = aligned_astronaut()
    field = bump_field(face.shape, landmarks[[48, 54, 19, 24, 57]], rng.uniform(-2, 2, size=(5, 2)))  # (H, W, 2)
    onset = to_uint8(face + rng.normal(0, 1.0, face.shape))
    apex = to_uint8(warp_exact(face, field) + rng.normal(0, 1.0, face.shape))
    mask = build_mask(landmarks, face.shape[0])
    flow = tvl1_flow(onset, apex)  # default = recommended FlowConfig
    assert flow.shape == (224, 224, 2) and flow.dtype == np.float32
    error = endpoint_error(flow, field, mask)
    assert error < 0.3
    assert error < 0.3 * endpoint_error(np.zeros_like(field), field, mask)  # it did measure the motion


def test_identical_frames_give_zero_flow():
    face, _ = aligned_astronaut()
    assert np.abs(tvl1_flow(face, face.copy())).max() < 1e-3


def test_flow_direction_convention():
    face, landmarks = aligned_astronaut()
    field = expression_field(landmarks, face.shape, amplitude=1.5)
    flow = tvl1_flow(face, to_uint8(warp_exact(face, field)))
    x, y = np.round(landmarks[54]).astype(int)  # image-right mouth corner moves right and up
    assert flow[y, x, 0] > 0.4 and flow[y, x, 1] < -0.5


def test_strain_of_a_translation_is_zero():
    flow = np.zeros((40, 50, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.7, -0.4
    assert np.abs(optical_strain(flow)).max() < 1e-6


def test_strain_of_a_linear_field_is_analytic():
    a, b, c, d = 0.03, -0.02, 0.05, 0.01  # u = a x + b y, v = c x + d y
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float64)
    flow = np.stack([a * xx + b * yy, c * xx + d * yy], axis=-1).astype(np.float32)
    expected = np.sqrt(a**2 + d**2 + 0.5 * (b + c) ** 2)
    np.testing.assert_allclose(optical_strain(flow), expected, rtol=1e-4)


def test_flow_features_channels():
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(30, 20, 2)).astype(np.float32)
    features = flow_features(flow)
    assert features.shape == (30, 20, 4) and features.dtype == np.float32
    assert FEATURE_NAMES == ("u", "v", "strain", "magnitude")
    np.testing.assert_array_equal(features[..., :2], flow)
    np.testing.assert_allclose(features[..., 3], np.hypot(flow[..., 0], flow[..., 1]), rtol=1e-6)
    np.testing.assert_allclose(features[..., 2], optical_strain(flow), rtol=1e-6)


def test_endpoint_error_value_and_mask():
    gt = np.zeros((10, 10, 2), np.float32)
    flow = gt.copy()
    flow[:5] = (3.0, 4.0)  # error 5 on the top half, 0 below
    assert endpoint_error(flow, gt) == pytest.approx(2.5)
    mask = np.zeros((10, 10), np.uint8)
    mask[:5] = 1
    assert endpoint_error(flow, gt, mask) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="selects no pixel"):
        endpoint_error(flow, gt, np.zeros((10, 10)))


def test_tvl1_rejects_mismatched_frames():
    with pytest.raises(ValueError, match="differ"):
        tvl1_flow(np.zeros((20, 20), np.uint8), np.zeros((20, 21), np.uint8))
    with pytest.raises(ValueError, match="grayscale"):
        tvl1_flow(np.zeros((20, 20, 3), np.uint8), np.zeros((20, 20, 3), np.uint8))
