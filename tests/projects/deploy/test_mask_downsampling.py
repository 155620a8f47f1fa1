"""downsample_mask computes F.interpolate's nearest indices itself (so that ONNX gets the same
masks); it must give exactly the masks F.interpolate gives."""
import torch
from torch.nn import functional as F

from projects.layers.levels import downsample_mask


def test_equals_interpolate_nearest_for_every_small_size_pair():
    generator = torch.Generator().manual_seed(0)
    for padded in range(1, 160):
        mask = torch.rand(2, padded, 3, generator=generator) > 0.5
        for size in range(1, 80):
            expected = F.interpolate(mask[None].float(), size=(size, 3))[0].bool()
            assert torch.equal(downsample_mask(mask, (size, 3)), expected), (padded, size)


def test_equals_interpolate_nearest_at_detection_sizes():
    generator = torch.Generator().manual_seed(1)
    for padded, size in ((1333, 42), (1333, 21), (1216, 19), (1216, 38), (800, 13), (800, 25), (1199, 150)):
        mask = torch.rand(1, padded, 70, generator=generator) > 0.5
        expected = F.interpolate(mask[None].float(), size=(size, 9))[0].bool()
        assert torch.equal(downsample_mask(mask, (size, 9)), expected), (padded, size)
