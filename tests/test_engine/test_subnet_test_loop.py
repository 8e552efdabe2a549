# Copyright (c) mmstim contributors. All rights reserved.
"""SubnetTestLoop and BN re-estimation, on tiny checkpoints trained on a
tiny on-disk dataset (the ``trained`` fixture)."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import (FASHION_CONFIGS, REPO, fake_batch, load_classifier,
                     tiny_classifier, tiny_data_options, top1_accuracy)
from mmengine.config import Config
from mmengine.hooks import Hook

import mmstim  # noqa: F401
from mmstim.analysis import evaluate_subnets
from mmstim.engine import recalibrated_bn
from mmstim.models.subnets import find_residual_stages, run_as_subnet

pytestmark = pytest.mark.usefixtures('one_torch_thread')

ST = osp.join(FASHION_CONFIGS, 'resnet14_st_fashion-mnist.py')


class RandomlyAugmentedBatches:
    """Batches whose pixels draw from NumPy's global generator, as the
    random augmentation of a data loader without workers does."""

    def __iter__(self):
        for _ in range(3):
            batch = fake_batch(2, 16)
            batch['inputs'] = [
                torch.from_numpy(
                    np.random.randint(0, 256, (3, 16, 16)).astype(np.uint8))
                for _ in batch['inputs']
            ]
            yield batch


def recalibrated_means(model):
    loader = RandomlyAugmentedBatches()
    with recalibrated_bn(model, loader, num_images=6):
        return model.backbone.bn1.running_mean.clone()


def test_bn_recalibration_does_not_depend_on_what_ran_before():
    model = tiny_classifier()
    np.random.seed(1)
    first = recalibrated_means(model)
    np.random.seed(2)
    np.random.rand(5)
    second = recalibrated_means(model)
    assert torch.equal(first, second)
    # inside: the generator seeded with 0; after: the caller's draws go on
    np.random.seed(3)
    expected = np.random.rand(2)
    np.random.seed(3)
    recalibrated_means(model)
    assert np.array_equal(np.random.rand(2), expected)
    np.random.seed(0)
    images = [np.random.randint(0, 256, (3, 16, 16)) for _ in range(6)]
    pixels = torch.from_numpy(np.stack(images)).float()
    weight = model.backbone.conv1.weight
    # bn1 sees conv1 of the seeded images (the preprocessor only casts)
    features = torch.nn.functional.conv2d(
        pixels, weight, padding=model.backbone.conv1.padding)
    assert torch.allclose(first, features.mean(dim=(0, 2, 3)), atol=1e-3)
    # torch's generator too: restored after the block
    torch.manual_seed(4)
    expected = torch.rand(3)
    torch.manual_seed(4)
    recalibrated_means(model)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize('tool', ['tools/test.py', 'mmpretrain'])
def test_subnet_test_loop_from_test_tools(trained, tmp_path, tool):
    """The loafing table through tools/test.py and MMPretrain's own tool
    equals subnets evaluated by hand, with and without BN re-estimation."""
    out = str(tmp_path / 'metrics.json')
    options = [f'{k}={v}' for k, v in tiny_data_options(
        trained['data_root'], batch_size=16).items()] + [
            'test_cfg.type=SubnetTestLoop', 'test_cfg.subnets=[[1,1,1]]',
            'test_cfg.recalibration_images=16',
            'test_dataloader.num_workers=0', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False']
    if tool == 'mmpretrain':
        import mmpretrain
        script = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                          'test.py')
        extra = ['--out-item', 'metrics']
    else:
        script, extra = osp.join(REPO, tool), []
    result = subprocess.run(
        [sys.executable, script, ST, trained['st'], '--out', out,
         '--work-dir', str(tmp_path), *extra, '--cfg-options', *options],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.load(open(out))
    metrics = metrics.get('metrics', metrics)
    model, test_loader, train_loader = load_classifier(
        ST, trained['st'], trained['data_root'])
    full = top1_accuracy(model, test_loader)
    stages = find_residual_stages(model.backbone)
    with run_as_subnet(stages, (1, 1, 1)):
        subnet = top1_accuracy(model, test_loader)
        with recalibrated_bn(model, train_loader, 16):
            recal = top1_accuracy(model, test_loader)
    assert metrics['accuracy/top1'] == pytest.approx(full, abs=1e-4)
    assert metrics['full/accuracy/top1'] == pytest.approx(full, abs=1e-4)
    assert metrics['1-1-1/accuracy/top1'] == pytest.approx(subnet, abs=1e-4)
    assert metrics['1-1-1/recal/accuracy/top1'] == pytest.approx(
        recal, abs=1e-4)
    assert metrics['mean_subnet/accuracy/top1'] == pytest.approx(
        subnet, abs=1e-4)
    assert recal != subnet  # re-estimation changed something measurable


def test_subnet_test_loop_calls_the_iteration_hooks(trained, tmp_path):
    """Hooks see every batch of every pass, as in MMEngine's TestLoop."""

    class RecordingHook(Hook):

        def __init__(self):
            self.calls = []

        def before_test_iter(self, runner, batch_idx, data_batch=None):
            self.calls.append(('before', batch_idx))

        def after_test_iter(self, runner, batch_idx, data_batch=None,
                            outputs=None):
            self.calls.append(('after', batch_idx, len(outputs)))

    cfg = Config.fromfile(ST)
    cfg.merge_from_dict(tiny_data_options(trained['data_root']))
    cfg.work_dir = str(tmp_path)
    loop_args = dict(num_workers=0, subnets=[[1, 1, 1]],
                     recalibration_images=16)
    hook = RecordingHook()
    evaluate_subnets(cfg, trained['st'], hooks=[hook], **loop_args)
    # 30 test images in batches of 16; the full network and 1-1-1, each
    # without and with BN re-estimation: 4 passes
    one_pass = [('before', 0), ('after', 0, 16), ('before', 1),
                ('after', 1, 14)]
    assert hook.calls == one_pass * 4
