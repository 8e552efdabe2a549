# Copyright (c) mmstim contributors. All rights reserved.
"""tools/demo.py reports the accuracies of the networks it trained."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from helpers import REPO, load_tool, top1_accuracy, write_tiny_fashion_mnist
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import mmstim  # noqa: F401
from mmstim.engine import recalibrated_bn
from mmstim.models.subnets import find_residual_stages, run_as_subnet
from mmstim.utils.checkpoint import load_weights

CONFIGS = osp.join(REPO, 'configs', 'fashion_mnist')


def hand_accuracies(config: str, checkpoint: str, data_root: str,
                    depths: tuple, recalibration_images: int) -> tuple:
    """Top-1 of a subnet of a checkpoint, without and with BN re-estimated,
    evaluated without the demo or the subnet test loop."""
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    load_weights(model, checkpoint)
    test, train = (Runner.build_dataloader(
        dict(cfg[key], num_workers=0, persistent_workers=False,
             dataset=dict(cfg[key].dataset, data_root=data_root)), seed=0)
        for key in ('test_dataloader', 'train_dataloader'))
    with run_as_subnet(find_residual_stages(model.backbone), depths):
        plain = top1_accuracy(model, test)
        with recalibrated_bn(model, train, recalibration_images):
            recalibrated = top1_accuracy(model, test)
    return plain, recalibrated


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    """The demo on tiny data: one iteration per run; its output and JSON."""
    root = tmp_path_factory.mktemp('demo')
    data_root, work_dir = str(root / 'data'), str(root / 'work')
    (root / 'data').mkdir()
    write_tiny_fashion_mnist(data_root)
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'demo.py'), '--epochs', '1',
         '--train-size', '0', '--test-size', '0',
         '--recalibration-images', '16', '--data-root', data_root,
         '--work-dir', work_dir],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[
        -3000:]
    with open(osp.join(work_dir, 'loafing.json')) as f:
        return dict(stdout=result.stdout, data=json.load(f),
                    data_root=data_root, work_dir=work_dir)


DEMO_RUNS = load_tool('tools/demo.py').RUNS


@pytest.mark.parametrize('label,method', DEMO_RUNS)
def test_demo_reports_its_checkpoints_accuracy(demo_run, label, method):
    run = demo_run['data']['runs'][label]
    checkpoint = osp.join(demo_run['work_dir'], method, 'epoch_1.pth')
    config = f'resnet14_{method}_fashion-mnist.py'
    assert [s['name'] for s in run['subnets']] == [
        'full', '1-2-2', '2-1-2', '2-2-1', '1-1-2', '1-2-1', '2-1-1', '1-1-1']
    for entry in (run['subnets'][0], run['subnets'][-1]):
        plain, recalibrated = hand_accuracies(
            config, checkpoint, demo_run['data_root'],
            tuple(entry['depths']), 16)
        assert entry['top1'] == pytest.approx(plain, abs=1e-4)
        assert entry['top1_recalibrated'] == pytest.approx(
            recalibrated, abs=1e-4)


def test_demo_table_holds_the_json_values(demo_run):
    runs = demo_run['data']['runs']
    # in the order of RUNS, whichever run finished first
    assert list(runs) == [label for label, _ in DEMO_RUNS]
    rows = {line.split(' | ')[0].lstrip('| '): line
            for line in demo_run['stdout'].splitlines()
            if line.startswith('| ')}
    for index, entry in enumerate(runs['baseline']['subnets']):
        cells = rows[entry['name']].strip('| ').split(' | ')
        expected = [f'{runs[label]["subnets"][index][key]:.2f}'
                    for label in ('baseline', 'ST++')
                    for key in ('top1', 'top1_recalibrated')]
        assert cells[1:] == [str(entry['kept_blocks'])] + expected
    mean = rows['mean of the subnets'].strip('| ').split(' | ')
    subnets = runs['ST++']['subnets'][1:]
    assert float(mean[-1]) == pytest.approx(
        sum(s['top1_recalibrated'] for s in subnets) / len(subnets), abs=0.01)
    with open(osp.join(demo_run['work_dir'], 'loafing.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
