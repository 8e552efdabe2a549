# Copyright (c) mmstim contributors. All rights reserved.
import itertools
from collections import Counter

import pytest
from helpers import tiny_classifier
from mmpretrain.models import ResNet

from mmstim.models.subnets import (PAPER_RESNET50_SPACE, SubnetSampler,
                                   find_residual_stages, kept_depths)


@pytest.fixture(scope='module')
def resnet50_stages():
    return find_residual_stages(
        ResNet(depth=50, stem_channels=8, base_channels=8))


@pytest.fixture(scope='module')
def tiny_stages():
    return tiny_classifier().residual_stages  # depths (3, 4, 6)


def test_paper_rule_draws_only_the_published_space(resnet50_stages):
    sampler = SubnetSampler(resnet50_stages, rule='paper', seed=7)
    assert sampler.allowed_depths == PAPER_RESNET50_SPACE
    assert sampler.num_subnets_in_space() == 8
    space = set(itertools.product(*PAPER_RESNET50_SPACE))
    draws = [sampler.draw(i, k).depths for i in range(400)
             for k in range(6)]
    assert set(draws) == space  # every one of the 8 subnets appears


def test_paper_rule_refuses_other_layouts():
    stages = find_residual_stages(
        ResNet(depth=101, stem_channels=8, base_channels=8))
    with pytest.raises(ValueError, match=r'\(3, 4, 23, 3\)'):
        SubnetSampler(stages, rule='paper')


def test_default_rule_frequencies_are_uniform(tiny_stages):
    sampler = SubnetSampler(tiny_stages, rule='default', seed=3)
    n = 6000
    counts = [Counter() for _ in tiny_stages]
    for i in range(n):
        for stage, depth in enumerate(sampler.draw(i, 0).depths):
            counts[stage][depth] += 1
    for stage, counter in zip(tiny_stages, counts):
        assert set(counter) == set(range(1, len(stage) + 1))
        p = 1 / len(stage)
        bound = 5 * (p * (1 - p) / n)**0.5  # five standard deviations
        for depth in range(1, len(stage) + 1):
            assert abs(counter[depth] / n - p) < bound


def test_explicit_rule_and_side_numbers(tiny_stages):
    sampler = SubnetSampler(tiny_stages, rule=[[3], [2, 4], [6]])
    draws = [sampler.draw(i, 0) for i in range(200)]
    assert {d.depths for d in draws} == {(3, 2, 6), (3, 4, 6)}
    us = [d.resize_u for d in draws]
    assert all(0 <= u < 1 for u in us) and len(set(us)) == len(us)


def test_same_seed_iteration_k_gives_same_draw(tiny_stages):
    # a second sampler stands for another rank or a resumed process
    one = SubnetSampler(tiny_stages, rule='default', num_subnets=4, seed=42)
    other = SubnetSampler(tiny_classifier(seed=5).residual_stages,
                          rule='default', num_subnets=4, seed=42)
    for i, k in [(0, 0), (17, 3), (123456, 5)]:
        assert one.draw(i, k) == other.draw(i, k)
    assert one.draws(9) == other.draws(9)
    assert one.draws(9) == [one.draw(9, k) for k in range(4)]
    different = {one.draw(i, 0).depths for i in range(50)}
    assert len(different) > 5
    seed2 = SubnetSampler(tiny_stages, rule='default', seed=2)
    assert seed2.draw(3, 0).resize_u != SubnetSampler(
        tiny_stages, rule='default', seed=1).draw(3, 0).resize_u


def test_stochastic_depth_rule(tiny_stages):
    sampler = SubnetSampler(tiny_stages, rule='stochastic_depth',
                            min_keep_prob=0.5)
    probs = sampler.expected_kept_fraction()
    # the first block of each stage is never dropped
    assert [p[0] for p in probs] == [1.0, 1.0, 1.0]
    # linear decay over the 13 blocks: the last is kept with p = 0.5
    assert probs[-1][-1] == pytest.approx(0.5)
    assert probs[0][1] == pytest.approx(1 - 1 / 12 * 0.5)
    n = 4000
    kept_last = sum(sampler.draw(i, 0).mask[-1][-1] for i in range(n))
    assert abs(kept_last / n - 0.5) < 5 * (0.25 / n)**0.5
    masks = {sampler.draw(i, 0).mask for i in range(200)}
    assert all(all(stage[0] for stage in mask) for mask in masks)
    assert len({kept_depths(m) for m in masks}) > 10


@pytest.mark.parametrize('rule, message', [
    ([[3], [4], [6]], 'only the full network'),
    ([[3], [4, 5], [6]], 'allowed are 1 to 4'),
    ([[0, 3], [4], [6]], 'allowed are 1 to 3'),
    ([[3], [4]], '2 stages'),
    ([[3], [], [6]], 'allows no depth'),
    ('bogus', 'Unknown subnet rule'),
])
def test_bad_rules(tiny_stages, rule, message):
    with pytest.raises(ValueError, match=message):
        SubnetSampler(tiny_stages, rule=rule)


@pytest.mark.parametrize('num_subnets', [-1, 1.5])
def test_bad_num_subnets(tiny_stages, num_subnets):
    with pytest.raises(ValueError, match='num_subnets must be an integer'):
        SubnetSampler(tiny_stages, num_subnets=num_subnets)


def test_stochastic_depth_that_never_drops(tiny_stages):
    with pytest.raises(ValueError, match='only the full network'):
        SubnetSampler(tiny_stages, rule='stochastic_depth', min_keep_prob=1.0)


def test_sandwich_rule_draws_the_shallowest_first(tiny_stages):
    sandwich = SubnetSampler(tiny_stages, rule='sandwich', num_subnets=3,
                             seed=11)
    default = SubnetSampler(tiny_stages, rule='default', num_subnets=3,
                            seed=11)
    assert sandwich.allowed_depths == default.allowed_depths
    others = Counter()
    for i in range(2000):
        draws, plain = sandwich.draws(i), default.draws(i)
        assert draws[0].depths == (1, 1, 1)
        assert draws[0].mask == ((True, False, False),
                                 (True, False, False, False),
                                 (True, False, False, False, False, False))
        # the others, and every input-side number, are the default rule's
        assert draws[1:] == plain[1:]
        assert [d.resize_u for d in draws] == [d.resize_u for d in plain]
        others.update(d.depths for d in draws[1:])
    assert len(others) == 3 * 4 * 6  # the whole space is drawn
    # a pure function of (seed, iteration): another process draws the same
    again = SubnetSampler(tiny_classifier(seed=4).residual_stages,
                          rule='sandwich', num_subnets=3, seed=11)
    assert again.draws(1234) == sandwich.draws(1234)
    assert sandwich.draw(1234, 2) == default.draw(1234, 2)


def test_sandwich_rule_kept_fractions(tiny_stages):
    sampler = SubnetSampler(tiny_stages, rule='sandwich', num_subnets=4)
    fractions = sampler.expected_kept_fraction()
    # stage 0 (3 blocks): block 1 is kept by 2 of 3 depths, never by the
    # shallowest: 3/4 * 2/3
    assert fractions[0] == pytest.approx([1.0, 0.5, 0.25])
    n = 4000
    kept = sum(sampler.draw(i, k).mask[0][1] for i in range(n // 4)
               for k in range(4))
    assert abs(kept / n - 0.5) < 5 * (0.25 / n)**0.5


def test_sandwich_rule_through_the_hook_config(tiny_stages):
    from mmengine.config import Config

    from mmstim.engine import build_subnet_sampler
    cfg = Config(dict(custom_hooks=[dict(
        type='SubnetSamplingHook', rule='sandwich', num_subnets=2, seed=5)]))
    sampler = build_subnet_sampler(cfg, tiny_classifier())
    assert [d.depths[0] for d in sampler.draws(0)][:1] == [1]
    assert sampler.draws(7) == SubnetSampler(
        tiny_stages, rule='sandwich', num_subnets=2, seed=5).draws(7)
