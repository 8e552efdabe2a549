# Copyright (c) mmstim contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmstim.models import RandomSubnetResize


def test_side_range_and_choice():
    resize = RandomSubnetResize()  # min_scale 0.43
    assert resize.side_range(224)[0] == 96 and resize.side_range(224)[-1] \
        == 224
    assert resize.side_range(200)[0] == 86
    assert resize.choose_sides([0.0, 0.5, 0.999999], 224) == [96, 160, 224]


def test_uniform_over_integer_sides():
    resize = RandomSubnetResize(min_scale=0.5)
    sides = resize.choose_sides([(i + 0.5) / 900 for i in range(900)], 16)
    assert sorted(set(sides)) == list(range(8, 17))
    assert all(sides.count(s) == 100 for s in range(8, 17))


def test_fixed_sizes_and_shared_side():
    resize = RandomSubnetResize(sizes=[64, 128, 160], shared=True)
    assert resize.choose_sides([0.9, 0.1, 0.5], 224) == [160, 160, 160]
    assert RandomSubnetResize(sizes=[64, 128]).choose_sides(
        [0.2, 0.7], 224) == [64, 128]


def test_resizes_the_given_batch_bilinear_antialiased():
    torch.manual_seed(0)
    batch = torch.randn(2, 3, 32, 32)
    out = RandomSubnetResize()(batch, 16)
    expected = F.interpolate(batch, size=(16, 16), mode='bilinear',
                             align_corners=False, antialias=True)
    assert torch.equal(out, expected)
    # resizing keeps the batch's statistics: it is never normalised again
    assert out.mean().item() == pytest.approx(batch.mean().item(), abs=0.05)
    assert RandomSubnetResize()(batch, 32) is batch


def test_keeps_aspect_ratio():
    batch = torch.zeros(1, 3, 20, 40)
    assert RandomSubnetResize()(batch, 10).shape == (1, 3, 10, 20)


@pytest.mark.parametrize('kwargs, message', [
    (dict(min_scale=0.0), r'min_scale must be in \(0, 1\], got 0.0'),
    (dict(min_scale=1.5), r'min_scale must be in \(0, 1\], got 1.5'),
    (dict(sizes=[]), 'non-empty list of positive sides'),
    (dict(sizes=[0, 8]), 'non-empty list of positive sides'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandomSubnetResize(**kwargs)


def test_size_divisor():
    resize = RandomSubnetResize(min_scale=0.43, size_divisor=32)
    assert resize.side_range(224) == [96, 128, 160, 192, 224]
    assert resize.choose_sides([0.0, 0.5, 0.99], 224) == [96, 160, 224]
    with pytest.raises(ValueError, match=r'No side in \[7, 16\].*=32'):
        RandomSubnetResize(size_divisor=32).side_range(16)
    with pytest.raises(ValueError, match='not all multiples'):
        RandomSubnetResize(sizes=[64, 100], size_divisor=32)
    with pytest.raises(ValueError, match='positive integer'):
        RandomSubnetResize(size_divisor=0)
