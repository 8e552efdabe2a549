# Copyright (c) mmstim contributors. All rights reserved.
"""The RetinaNet configs of ``configs/mmdet/fashion_mnist_det`` train on
canvases and start from their checkpoint's backbone, tensor for tensor."""
import glob
import os.path as osp
import uuid

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmpretrain.registry import MODELS

import mmstim  # noqa: F401
from mmstim.datasets.canvas_detection import write_dataset
from mmstim.utils.launch import build_det_runner

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'mmdet',
                      'fashion_mnist_det')
CONFIGS = sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))


class RecordBackbone(Hook):
    """The backbone's tensors as training starts, and the losses."""

    def before_train(self, runner) -> None:
        self.start = {k: v.clone()
                      for k, v in runner.model.backbone.state_dict().items()}
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.losses.append(float(outputs['loss']))


@pytest.fixture(scope='module')
def canvases(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('canvases'))
    rng = np.random.default_rng(0)
    items = np.zeros((40, 28, 28), np.uint8)
    for i, (top, left) in enumerate(rng.integers(0, 12, (40, 2))):
        items[i, top:top + 14, left:left + 12] = 120 + 3 * i
    write_dataset(root, items, np.arange(40) % 10, items[:20],
                  np.arange(20) % 10, dict(train=16, val=2), val_items=10)
    return root


def pretrained_checkpoint(backbone: dict, path: str) -> dict:
    """Save a classifier checkpoint whose backbone is ``backbone`` with
    random weights and BN statistics; return the backbone's tensors."""
    torch.manual_seed(1)
    model = MODELS.build(dict(backbone, type=backbone['type'].split('.')[-1],
                              init_cfg=None))
    state = model.state_dict()
    for key, value in state.items():
        if value.is_floating_point():
            value.copy_(torch.rand_like(value) + 0.5 * ('var' in key))
    torch.save(dict(state_dict={
        **{f'backbone.{k}': v for k, v in state.items()},
        'head.fc.weight': torch.zeros(10, 64)
    }), path)
    return state


def tiny_config(name: str, root: str, work_dir: str) -> Config:
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{name}_{uuid.uuid4().hex[:8]}'
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = []  # no warm-up: two steps change what trains
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = root
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    return cfg


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_from_its_checkpoint(name, canvases, tmp_path):
    cfg = tiny_config(name, canvases, str(tmp_path))
    backbone = cfg.model.backbone
    expected = None
    if backbone.init_cfg is not None:
        expected = pretrained_checkpoint(backbone.to_dict(),
                                         str(tmp_path / 'pretrained.pth'))
        backbone.init_cfg.checkpoint = str(tmp_path / 'pretrained.pth')
    runner = build_det_runner(cfg)
    record = RecordBackbone()
    runner.register_hook(record)
    runner.train()
    assert runner.iter == 2 and all(np.isfinite(record.losses))
    after = runner.model.backbone.state_dict()
    if expected is None:  # random initialisation: BN statistics untouched
        assert 'scratch' in name
        assert torch.equal(record.start['bn1.running_mean'],
                           torch.zeros(16))
        assert not torch.equal(record.start['conv1.weight'],
                               after['conv1.weight'])
        return
    assert record.start.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(record.start[key], value, rtol=0, atol=0,
                                   msg=key)
    # MMDet's practice for a pretrained backbone: stem, first stage and
    # every BN frozen; the later stages' convolutions train
    for key in after:
        frozen = key.startswith(('conv1', 'bn1', 'layer1')) or (
            'bn' in key or 'downsample.1' in key)
        assert torch.equal(after[key], expected[key]) == frozen, key
