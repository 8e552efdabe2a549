# Copyright (c) mmstim contributors. All rights reserved.
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from helpers import tiny_classifier, tiny_runner_kwargs
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.models import ImageClassifier

from mmstim.engine import (SubnetSamplingHook, build_subnet_sampler,
                           hooks_without_sampling, list_draws,
                           sampling_hook_config)


def test_runner_trains_subnets_and_lowers_loss(tmp_path):
    kwargs = tiny_runner_kwargs(
        str(tmp_path), max_iters=24, num_subnets=2, batch_size=8, lr=0.1,
        checkpoint_interval=24)
    runner = Runner(**kwargs)
    runner.train()
    losses = scalars(runner, 'loss_cls')
    assert len(losses) == 24
    assert sum(losses[-4:]) / 4 < 0.93 * sum(losses[:4]) / 4
    assert min(scalars(runner, 'loss_kl')) > 0
    # what ran, as logged, is the sampler's pure function of (seed, i)
    sampler = build_subnet_sampler(runner)
    assert sampler.seed == runner.seed and sampler.num_subnets == 2
    rows = list_draws(sampler, range(24), runner.model, input_side=16)
    for i in range(24):
        ran = [r for r in rows if r['iter'] == i]
        assert scalars(runner, 'kept_depth')[i] == pytest.approx(
            sum(sum(r['depths']) for r in ran) / 2)
        assert scalars(runner, 'subnet_side')[i] == pytest.approx(
            sum(r['side'] for r in ran) / 2)
    assert {r['side'] for r in rows} - set(range(8, 17)) == set()
    assert len({tuple(r['depths']) for r in rows}) > 10
    # the same draws are listed from the config, without a runner
    cfg = Config(dict(custom_hooks=kwargs['custom_hooks'],
                      randomness=kwargs['randomness']))
    from_cfg = build_subnet_sampler(cfg, tiny_classifier())
    assert [from_cfg.draws(i) for i in range(24)] == [
        sampler.draws(i) for i in range(24)]
    # the checkpoint holds exactly an ImageClassifier's keys
    checkpoint = torch.load(
        osp.join(str(tmp_path), 'iter_24.pth'), weights_only=True)
    plain = ImageClassifier(
        backbone=kwargs['model']['backbone'],
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=16))
    assert list(checkpoint['state_dict']) == list(plain.state_dict())


def scalars(runner, name):
    return runner.message_hub.get_scalar(f'train/{name}').data[0].tolist()


def test_num_subnets_zero_is_plain_training(tmp_path):
    runner = Runner(**tiny_runner_kwargs(
        str(tmp_path), max_iters=2, num_subnets=0, checkpoint_interval=10))
    runner.train()
    assert 'train/loss_kl' not in runner.message_hub.log_scalars
    assert len(scalars(runner, 'loss_cls')) == 2


def test_begin_iter_and_cosine_schedule(tmp_path):
    runner = Runner(**tiny_runner_kwargs(
        str(tmp_path), max_iters=6, num_subnets=1, checkpoint_interval=10,
        hook_kwargs=dict(begin_iter=2, kl_schedule='cosine_up')))
    runner.train()
    assert len(scalars(runner, 'loss_cls')) == 6
    assert [round(w, 6) for w in scalars(runner, 'kl_weight')] == [
        0.0, 0.25, 0.75, 1.0]


def test_sampler_from_config_needs_a_seed():
    cfg = Config(dict(custom_hooks=[
        dict(type='SubnetSamplingHook', rule='default', num_subnets=2)]))
    with pytest.raises(ValueError, match='randomness.seed=N'):
        build_subnet_sampler(cfg, tiny_classifier())
    cfg.custom_hooks[0]['seed'] = 7
    sampler = build_subnet_sampler(cfg, tiny_classifier(), [[1], [2], [3]])
    assert sampler.seed == 7 and sampler.draws(5)[1].depths == (1, 2, 3)
    # a plain baseline: the default rule, no draws
    baseline = build_subnet_sampler(Config(dict()), tiny_classifier())
    assert baseline.rule == 'default' and baseline.draws(0) == []


def test_kl_weight_schedules():
    down = SubnetSamplingHook(kl_schedule='cosine_down')
    assert down.kl_weight(0, 11) == pytest.approx(1.0)
    assert down.kl_weight(5, 11) == pytest.approx(0.5)
    assert down.kl_weight(10, 11) == pytest.approx(0.0)
    assert SubnetSamplingHook().kl_weight(7, 11) == 1.0


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_subnets=-1), 'num_subnets must be an integer >= 0'),
    (dict(kl_schedule='linear'), 'kl_schedule'),
    (dict(begin_epoch=-2), 'begin_epoch'),
])
def test_bad_hook_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SubnetSamplingHook(**kwargs)


def fake_runner(model, hook, max_epochs=10, max_iters=100):
    return SimpleNamespace(
        model=model, max_epochs=max_epochs, max_iters=max_iters, seed=3,
        hooks=[hook], logger=SimpleNamespace(info=lambda *a: None))


def test_begin_epoch_after_training_ends():
    hook = SubnetSamplingHook(begin_epoch=10)
    with pytest.raises(ValueError, match='begin_epoch=10.*max_epochs=10'):
        hook.before_train(fake_runner(tiny_classifier(), hook, max_epochs=10))


def test_hook_on_plain_classifier():
    model = ImageClassifier(
        backbone=dict(type='ResNet', depth=18),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=512))
    with pytest.raises(TypeError, match='needs a StimulativeClassifier'):
        hook = SubnetSamplingHook()
        hook.before_train(fake_runner(model, hook))


def test_rule_validated_before_training():
    hook = SubnetSamplingHook(rule='paper')
    with pytest.raises(ValueError, match=r"'paper'.*\(3, 4, 6\)"):
        hook.before_train(fake_runner(tiny_classifier(), hook))
    hook = SubnetSamplingHook(rule=[[3], [4], [6]])
    with pytest.raises(ValueError, match='only the full network'):
        hook.before_train(fake_runner(tiny_classifier(), hook))


def test_the_sampling_hook_is_found_by_its_registered_class():
    class EverySecondIteration(SubnetSamplingHook):
        pass

    cfg = Config(dict(custom_hooks=[
        dict(type='SafeCheckpointHook'),
        dict(type='mmpretrain.SubnetSamplingHook', rule='ordered', seed=3),
    ]))
    assert sampling_hook_config(cfg) == dict(
        type='mmpretrain.SubnetSamplingHook', rule='ordered', seed=3)
    assert hooks_without_sampling(cfg) == [dict(type='SafeCheckpointHook')]
    cfg.custom_hooks = [dict(type=EverySecondIteration), dict(type='x.Y')]
    assert sampling_hook_config(cfg) == dict(type=EverySecondIteration)
    assert hooks_without_sampling(cfg) == [dict(type='x.Y')]
