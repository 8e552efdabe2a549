# Copyright (c) mmstim contributors. All rights reserved.
"""The cost benchmark's library: samplers of the variants, warm-up."""
import os.path as osp

import pytest
import torch
from helpers import REPO, fake_batch, tiny_classifier
from mmengine.config import Config
from mmengine.optim import OptimWrapper

import mmstim  # noqa: F401
from mmstim.benchmark.accuracy import recipe
from mmstim.benchmark.cost import (CostSettings, build_model, variant_sampler,
                                   warm_input_sides)

STPP = osp.join(REPO, 'configs', 'fashion_mnist',
                'resnet14_stpp_fashion-mnist.py')


@pytest.fixture
def scoped_hook_config(tmp_path):
    """The ST++ config whose sampling hook has a scoped type and sets every
    sampling setting."""
    path = tmp_path / 'scoped.py'
    path.write_text(
        f'_base_ = [{STPP!r}]\n'
        "custom_hooks = [dict(type='mmpretrain.SubnetSamplingHook', "
        "rule='stochastic_depth', num_subnets=3, min_keep_prob=0.5, "
        'seed=7)]\n')
    return str(path)


def test_stpp_sampler_has_every_setting_of_a_scoped_hook(
        scoped_hook_config):
    settings = CostSettings(config=scoped_hook_config, image_size=28)
    model = build_model(settings, 'stpp')
    sampler = variant_sampler(settings, 'stpp', model)
    assert (sampler.rule, sampler.num_subnets, sampler.min_keep_prob,
            sampler.seed) == ('stochastic_depth', 3, 0.5, 7)
    # the command line overrides the rule and the number only
    settings = CostSettings(config=scoped_hook_config, num_subnets=2,
                            rule='default')
    sampler = variant_sampler(settings, 'stpp', model)
    assert (sampler.rule, sampler.num_subnets, sampler.seed) == (
        'default', 2, 7)
    st = variant_sampler(settings, 'st', build_model(settings, 'st'))
    assert (st.rule, st.num_subnets) == ('default', 1)
    plain = variant_sampler(settings, 'plain',
                            build_model(settings, 'plain'))
    assert plain.num_subnets == 0


def test_recipe_records_a_scoped_sampling_hook(scoped_hook_config):
    sampling = recipe(Config.fromfile(scoped_hook_config))['subnet_sampling']
    assert sampling == dict(type='mmpretrain.SubnetSamplingHook',
                            rule='stochastic_depth', num_subnets=3,
                            min_keep_prob=0.5, seed=7)


def test_without_config_the_paper_rule_with_6_subnets():
    settings = CostSettings(depth=50)
    sampler = variant_sampler(settings, 'stpp', build_model(settings,
                                                            'stpp'))
    assert (sampler.rule, sampler.num_subnets) == ('paper', 6)


def test_cost_benchmark_warms_every_side_without_changing_weights():
    model = tiny_classifier()
    model.train()
    seen = []
    model.backbone.conv1.register_forward_hook(
        lambda module, args, output: seen.append(args[0].shape[-1]))
    before = {k: v.clone() for k, v in model.state_dict().items()
              if 'running' not in k and 'num_batches' not in k}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    warm_input_sides(model, fake_batch(2, 16), OptimWrapper(optimizer),
                     [12, 8, 12, 16])
    assert seen == [8, 12, 16]  # each distinct side once, in order
    assert all(p.grad is None for p in model.parameters())
    assert optimizer.state_dict()['state'] == {}
    for key, value in before.items():
        assert torch.equal(model.state_dict()[key], value), key
