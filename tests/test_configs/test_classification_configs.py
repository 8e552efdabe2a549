# Copyright (c) mmstim contributors. All rights reserved.
"""Every classification config builds; every ST config trains subnets.

A config that silently trains the baseline must fail here, not after a
six-day run. The model is built as MMEngine's Runner builds it (with the
config's data preprocessor) and initialised as training starts, and the
fake batch has the channels of the config's data set.
"""
import glob
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from helpers import fake_batch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import HOOKS, MODELS

import mmstim  # noqa: F401
from mmstim.models import StimulativeClassifier
from mmstim.models.subnets import frozen_bn_statistics

CONFIG_ROOT = osp.join(osp.dirname(__file__), '..', '..', 'configs')
CONFIGS = sorted(
    p for p in glob.glob(osp.join(CONFIG_ROOT, '**', '*.py'), recursive=True)
    if '_base_' not in p and osp.sep + 'mmdet' + osp.sep not in p)


#: Channels of the images each data set type yields.
DATA_CHANNELS = {'ImageNet': 3, 'FashionMNIST': 1}


def config_id(path):
    return osp.relpath(path, CONFIG_ROOT)


def test_all_configs_collected():
    names = {config_id(p) for p in CONFIGS}
    assert 'resnet50_stim_imagenet.py' in names
    assert 'fashion_mnist/resnet14_stpp_fashion-mnist.py' in names
    for stem in ('deit-small', 'convnext-tiny'):
        assert f'{stem}_stim_imagenet.py' in names
        assert f'{stem}_baseline_imagenet.py' in names
    for stem in ('convnext-micro', 'deit-micro', 'swin-micro',
                 'mobilenet-v2-025'):
        assert f'fashion_mnist/{stem}_stpp_fashion-mnist.py' in names
        assert f'fashion_mnist/{stem}_baseline_fashion-mnist.py' in names
    assert len(names) >= 25


def hook_config(cfg, name):
    hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] == name]
    return hooks[0] if hooks else None


def record_head_targets(model):
    """Record the data samples the head's loss receives in training."""
    calls = []
    get_loss = model.head._get_loss

    def recording_get_loss(cls_score, data_samples, **kwargs):
        calls.append(data_samples)
        return get_loss(cls_score, data_samples, **kwargs)

    model.head._get_loss = recording_get_loss
    return calls


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_builds_and_st_configs_train_subnets(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['mmstim']
    assert hook_config(cfg, 'SafeCheckpointHook') is not None
    for key in ('train_dataloader', 'val_dataloader'):
        assert cfg[key].dataset.get('download', False) is False
    torch.manual_seed(0)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:  # as Runner merges it
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    sampling = hook_config(cfg, 'SubnetSamplingHook')
    if not isinstance(model, StimulativeClassifier):
        assert sampling is None, 'sampling hook on a plain classifier'
        return
    assert sampling is not None, 'an ST model without SubnetSamplingHook'
    assert cfg.model_wrapper_cfg.type == 'StimulativeDDP'

    hook = HOOKS.build(sampling)
    runner = SimpleNamespace(
        model=model, seed=0, iter=0, epoch=0, max_iters=1000,
        max_epochs=cfg.train_cfg.max_epochs, train_dataloader=[None] * 10,
        hooks=[hook],
        logger=SimpleNamespace(info=lambda *args: None))
    hook.before_train(runner)
    full_depth = sum(len(stage) for stage in model.residual_stages)
    # the first iteration whose draws are not all the full network
    while True:
        hook.before_train_iter(runner, runner.iter)
        draws, _ = model._next_draws
        if any(sum(d.depths) < full_depth for d in draws):
            break
        runner.iter += 1
    assert runner.iter < 20
    assert len(draws) == sampling['num_subnets'] > 0

    channels = DATA_CHANNELS[cfg.train_dataloader.dataset.type]
    batch = fake_batch(batch_size=2, size=32, channels=channels,
                       num_classes=model.head.num_classes)
    model.init_weights()
    with torch.no_grad():
        # ConvNeXt's layer scale starts at 1e-6: every block is then the
        # identity to float precision, and so is the KL between a subnet and
        # the full network; at 1 the blocks, and the KL, are measurable.
        for module in model.backbone.modules():
            if isinstance(getattr(module, 'gamma', None), torch.nn.Parameter):
                module.gamma.fill_(1.0)
    model.train()
    if model.normalize_main_logits:
        # constant logits, e.g. from a zero-initialised classifier, would
        # make the layer-normalised main loss divide by sqrt(eps)
        with torch.no_grad(), frozen_bn_statistics(model):
            logits = model.logits(model.data_preprocessor(batch)['inputs'])
        assert logits.std(dim=1).min() > 1e-3
    head_targets = record_head_targets(model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    log_vars = model.train_step(batch, wrapper)
    if cfg.model.get('train_cfg', {}).get('augments'):
        # Mixup / CutMix: the main loss saw the mixed soft labels
        assert len(head_targets) == 1
        scores = torch.stack([s.gt_score for s in head_targets[0]])
        assert scores.shape == (2, model.head.num_classes)
        assert torch.allclose(scores.sum(1), torch.ones(2))
    # well above float rounding: the subnets differ from the full network
    assert log_vars['loss_kl'] > 1e-3
    assert log_vars['kl_weight'] == 1.0
    assert log_vars['kept_depth'] == pytest.approx(
        sum(sum(d.depths) for d in draws) / len(draws))
