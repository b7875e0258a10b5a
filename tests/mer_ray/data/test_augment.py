"""Flow-aware augmentation: vectors turn and stretch with the image; strain only moves; off means identity."""

import math

import pytest
import torch

from mer_ray.data.augment import FlowAugment


def _blob_field(size=64, centre=(44, 32), vector=(1.0, 0.0)) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    blob = torch.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / 20.0)
    return torch.stack([blob * vector[0], blob * vector[1], blob])[None]  # (1, 3, H, W): u, v, strain


def _centroid(weight: torch.Tensor) -> tuple[float, float]:
    size = weight.shape[-1]
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    return float((weight * xx).sum() / weight.sum()), float((weight * yy).sum() / weight.sum())


def test_rotation_moves_the_blob_and_turns_its_vector_by_the_same_angle():
    x = _blob_field()
    aug = FlowAugment(rotate_deg=90.0)
    for seed in range(5):
        out = aug(x, flow=True, generator=torch.Generator().manual_seed(seed))
        angle = torch.rand(1, generator=torch.Generator().manual_seed(seed)).item() * 2 - 1  # the same draw
        theta = math.radians(90.0 * angle)
        cx, cy = _centroid(out[0, 2])
        px, py = 44 - 31.5, 32 - 31.5  # the blob relative to the image centre
        expected = (31.5 + math.cos(theta) * px - math.sin(theta) * py,
                    31.5 + math.sin(theta) * px + math.cos(theta) * py)
        assert cx == pytest.approx(expected[0], abs=0.3) and cy == pytest.approx(expected[1], abs=0.3)
        u, v = out[0, 0].sum() / out[0, 2].sum(), out[0, 1].sum() / out[0, 2].sum()
        assert float(u) == pytest.approx(math.cos(theta), abs=0.02)
        assert float(v) == pytest.approx(math.sin(theta), abs=0.02)


def test_scale_stretches_vectors_and_magnitude_scales_everything():
    x = _blob_field(centre=(32, 32))
    out = FlowAugment(scale=0.5)(x, flow=True, generator=torch.Generator().manual_seed(0))
    draws = torch.Generator().manual_seed(0)
    torch.rand(1, generator=draws)  # the rotation's draw comes first
    s = 1 + (torch.rand(1, generator=draws).item() * 2 - 1) * 0.5
    assert float(out[0, 0].max()) == pytest.approx(s, rel=0.05)  # the vector stretches with the image
    assert float(out[0, 2].max()) == pytest.approx(1, rel=0.05)  # strain does not
    mag = FlowAugment(magnitude=0.3)(x, flow=True, generator=torch.Generator().manual_seed(1))
    ratio = mag[0, 0].sum() / x[0, 0].sum()
    assert 0.7 <= float(ratio) <= 1.3 and float(ratio) == pytest.approx(float(mag[0, 2].sum() / x[0, 2].sum()))


def test_off_is_identity_and_bad_ranges_are_named():
    x = _blob_field()
    assert FlowAugment()(x, flow=True) is x
    with pytest.raises(ValueError, match="augmentation scale must be in"):
        FlowAugment(scale=1.5)


def test_flip_mirrors_the_field_and_reverses_u_for_about_its_share_of_items():
    x = _blob_field().repeat(400, 1, 1, 1)  # blob right of centre, pointing right
    out = FlowAugment(flip=0.3)(x, flow=True, generator=torch.Generator().manual_seed(0))
    mirrored = torch.tensor([_centroid(item[2])[0] < 32 for item in out])
    assert 0.24 < mirrored.float().mean() < 0.36
    expected = torch.flip(x[:1], dims=[-1])
    expected[:, 0] = -expected[:, 0]
    torch.testing.assert_close(out[mirrored], expected.expand(int(mirrored.sum()), -1, -1, -1))
    torch.testing.assert_close(out[~mirrored], x[~mirrored])
    torch.testing.assert_close(FlowAugment(flip=1.0)(x[:1], flow=False)[0, 0], torch.flip(x[0, 0], dims=[-1]))  # no u


def test_flip_off_draws_nothing_so_older_recipes_train_as_before():
    x = _blob_field().repeat(4, 1, 1, 1)
    a = FlowAugment(rotate_deg=10.0)(x, flow=True, generator=torch.Generator().manual_seed(3))
    b = FlowAugment(rotate_deg=10.0, flip=0.0)(x, flow=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="flip"):
        FlowAugment(flip=1.5)
