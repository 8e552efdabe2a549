# Copyright (c) mmstim contributors. All rights reserved.
import glob
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.runner import Runner
from mmpretrain.models import ImageClassifier

from mmstim.engine import SubnetSamplingHook
from mmstim.models.subnets import SubnetSampler
from mmstim.testing import tiny_classifier, tiny_runner_kwargs


def read_draws(work_dir):
    runs = sorted(d for d in glob.glob(osp.join(work_dir, '*'))
                  if osp.isdir(d))
    records = []
    for run in runs:
        path = osp.join(run, 'subnet_draws.jsonl')
        if osp.exists(path):
            with open(path) as f:
                records += [json.loads(line) for line in f]
    return records


def test_runner_trains_subnets_and_lowers_loss(tmp_path):
    kwargs = tiny_runner_kwargs(
        str(tmp_path), max_iters=24, num_subnets=2, batch_size=8, lr=0.1,
        checkpoint_interval=24)
    runner = Runner(**kwargs)
    runner.train()
    history = runner.message_hub.get_scalar('train/loss_cls')
    losses = history.data[0].tolist()
    assert len(losses) == 24
    assert sum(losses[-4:]) / 4 < 0.93 * sum(losses[:4]) / 4
    kl = runner.message_hub.get_scalar('train/loss_kl').data[0]
    assert (kl > 0).all()
    # the draws are logged and are the sampler's pure function of (seed, i)
    records = read_draws(str(tmp_path))
    assert [r['iter'] for r in records] == list(range(24))
    hook = next(h for h in runner.hooks
                if isinstance(h, SubnetSamplingHook))
    sampler = SubnetSampler(runner.model.residual_stages, 'default')
    for record in records:
        expected = sampler.draw_iteration(hook.seed, record['iter'], 2)
        assert [s['depths'] for s in record['subnets']] == [
            list(d.depths) for d in expected]
        sides = runner.model.subnet_resize.choose_sides(
            [d.resize_u for d in expected], 16)
        assert [s['side'] for s in record['subnets']] == sides
    # the checkpoint holds exactly an ImageClassifier's keys
    checkpoint = torch.load(
        osp.join(str(tmp_path), 'iter_24.pth'), weights_only=True)
    plain = ImageClassifier(
        backbone=kwargs['model']['backbone'],
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=16))
    assert list(checkpoint['state_dict']) == list(plain.state_dict())


def test_num_subnets_zero_is_plain_training(tmp_path):
    runner = Runner(**tiny_runner_kwargs(
        str(tmp_path), max_iters=2, num_subnets=0, checkpoint_interval=10))
    runner.train()
    assert runner.model.subnets == []
    assert 'train/loss_kl' not in runner.message_hub.log_scalars
    assert 'train/loss_cls' in runner.message_hub.log_scalars


def test_begin_iter_and_cosine_schedule(tmp_path):
    runner = Runner(**tiny_runner_kwargs(
        str(tmp_path), max_iters=6, num_subnets=1, checkpoint_interval=10,
        hook_kwargs=dict(begin_iter=2, kl_schedule='cosine_up')))
    runner.train()
    records = read_draws(str(tmp_path))
    assert [r['iter'] for r in records] == [2, 3, 4, 5]
    assert [round(r['kl_weight'], 6) for r in records] == [
        0.0, 0.25, 0.75, 1.0]


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


def fake_runner(model, max_epochs=10, max_iters=100):
    return SimpleNamespace(
        model=model, max_epochs=max_epochs, max_iters=max_iters, seed=3,
        logger=SimpleNamespace(info=lambda *a: None))


def test_begin_epoch_after_training_ends():
    hook = SubnetSamplingHook(begin_epoch=10)
    with pytest.raises(ValueError, match='begin_epoch=10.*max_epochs=10'):
        hook.before_train(fake_runner(tiny_classifier(), max_epochs=10))


def test_hook_on_plain_classifier():
    model = ImageClassifier(
        backbone=dict(type='ResNet', depth=18),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=512))
    with pytest.raises(TypeError, match='needs a StimulativeClassifier'):
        SubnetSamplingHook().before_train(fake_runner(model))


def test_rule_validated_before_training():
    hook = SubnetSamplingHook(rule='paper')
    with pytest.raises(ValueError, match=r"'paper'.*\(3, 4, 6\)"):
        hook.before_train(fake_runner(tiny_classifier()))
    hook = SubnetSamplingHook(rule=[[3], [4], [6]])
    with pytest.raises(ValueError, match='only the full network'):
        hook.before_train(fake_runner(tiny_classifier()))
