import numpy as np
import pytest
import torch

from mer_ray.data.inputs import InputBuilder, balanced_epoch
from tests.mer_ray._synthetic import synthetic_features


def test_flip_mirrors_and_negates_u_only():
    data = synthetic_features(n_subjects=1, clips=3, size=64)
    builder = InputBuilder(data, "flow", 64, apply_mask=False)
    plain = builder.raw(np.array([0, 1]))
    flipped = builder.raw(np.array([0, 1]), np.array([True, False]))
    torch.testing.assert_close(flipped[0, 0], -torch.flip(plain[0, 0], dims=[-1]))
    torch.testing.assert_close(flipped[0, 1:], torch.flip(plain[0, 1:], dims=[-1]))
    torch.testing.assert_close(flipped[1], plain[1])


def test_resizing_flow_rescales_displacements_not_strain():
    data = synthetic_features(n_subjects=1, clips=1, size=64)
    data.flow[:] = 0
    data.flow[0, 0] = 2.0  # uniform 2 px shift at 64 px
    data.flow[0, 2] = 0.5
    x = InputBuilder(data, "flow", 32, apply_mask=False).raw(np.array([0]))
    assert x.shape == (1, 3, 32, 32)
    assert float(x[0, 0].mean()) == pytest.approx(1.0)  # 1 px at half the size
    assert float(x[0, 2].mean()) == pytest.approx(0.5)


def test_mask_is_applied():
    data = synthetic_features(n_subjects=1, clips=1, size=64)
    data.mask[0, :, :32] = 0
    x = InputBuilder(data, "flow", 64, apply_mask=True).raw(np.array([0]))
    assert float(x[0, :, :, :32].abs().sum()) == 0.0
    assert float(x[0, :, :, 32:].abs().sum()) > 0.0


def test_statistics_come_from_the_fitted_rows_only():
    data = synthetic_features(n_subjects=2, clips=3, size=64)
    data.flow[3:] *= 100
    a = InputBuilder(data, "flow", 64).fit(np.arange(3))
    b = InputBuilder(data, "flow", 64).fit(np.arange(6))
    assert not np.allclose(a.std_, b.std_)
    x = a(np.arange(3))
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)


def test_building_before_fitting_is_an_error():
    data = synthetic_features(n_subjects=1, clips=1, size=64)
    with pytest.raises(RuntimeError, match="fit"):
        InputBuilder(data, "flow", 64)(np.array([0]))


def test_balanced_epoch_gives_each_class_the_same_count():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 30 + [1] * 8 + [2] * 4)
    epoch = balanced_epoch(labels, rng)
    counts = np.bincount(labels[epoch], minlength=3)
    assert counts[0] == counts[1] == counts[2] == len(labels) // 3
    assert len(set(epoch[labels[epoch] == 0])) == counts[0]  # the majority class is not repeated


def test_downscaled_inputs_are_cached_and_equal_to_computed_ones():
    data = synthetic_features()
    cached = InputBuilder(data, "flow", 32, apply_mask=True)
    assert cached.cached
    rows = np.array([3, 0, 5])
    np.testing.assert_allclose(cached.raw(rows).numpy(), cached._compute(rows).numpy())
    assert not InputBuilder(data, "flow", 64).cached  # full size: batch by batch from the shared arrays


def test_clip_normalisation_makes_inputs_amplitude_invariant():
    data = synthetic_features()
    loud = data.subset(np.arange(len(data)))
    loud.flow[:, :3] *= 10
    quiet = InputBuilder(data, "flow", 32, flow_norm="clip").raw(np.arange(4))
    again = InputBuilder(loud, "flow", 32, flow_norm="clip").raw(np.arange(4))
    np.testing.assert_allclose(quiet.numpy(), again.numpy(), rtol=1e-4, atol=1e-5)


def test_minmax_normalisation_maps_each_clip_channel_to_unit_range():
    x = InputBuilder(synthetic_features(), "flow", 32, flow_norm="minmax").raw(np.arange(3))
    assert np.allclose(x.amin(dim=(2, 3)).numpy(), 0) and np.allclose(x.amax(dim=(2, 3)).numpy(), 1)
