# Copyright (c) mmstim contributors. All rights reserved.
"""Analysis tools on tiny checkpoints trained on a tiny on-disk dataset."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys
import uuid

import numpy as np
import pytest
import torch
from helpers import (fake_batch, tiny_classifier, tiny_data_options,
                     top1_accuracy, write_tiny_fashion_mnist)
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS

import mmstim  # noqa: F401
from mmstim.analysis import (block_name, droppable_blocks, lesion_mask,
                             parse_run_spec, random_block_sets)
from mmstim.analysis.cost import (block_macs, count_macs, expected_cost_ratio,
                                  subnet_macs)
from mmstim.engine import recalibrated_bn
from mmstim.models.subnets import (RandomSubnetResize, SubnetSampler,
                                   find_residual_stages, run_as_subnet)
from mmstim.utils.checkpoint import load_weights

pytestmark = pytest.mark.usefixtures('one_torch_thread')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs', 'fashion_mnist')
ST = osp.join(CONFIGS, 'resnet14_st_fashion-mnist.py')
BASELINE = osp.join(CONFIGS, 'resnet14_baseline_fashion-mnist.py')
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
EPOCHS = 3


def load_tool(relative_path):
    """Import a script of tools/ as a module."""
    path = osp.join(REPO, relative_path)
    name = 'tool_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_classifier(config, checkpoint, data_root):
    """A trained classifier and its test and train loaders, by hand."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(tiny_data_options(data_root))
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    load_weights(model, checkpoint)
    loaders = [Runner.build_dataloader(dict(cfg[key], num_workers=0,
                                            persistent_workers=False), seed=0)
               for key in ('test_dataloader', 'train_dataloader')]
    return model.eval(), *loaders


def train_tiny(config, work_dir, data_root):
    """Train a config for a few epochs on the tiny data; return the ckpt."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(tiny_data_options(data_root))
    cfg.work_dir = work_dir
    cfg.experiment_name = f'tiny_{uuid.uuid4().hex[:8]}'
    cfg.train_cfg.max_epochs = EPOCHS
    cfg.train_cfg.val_interval = EPOCHS
    cfg.param_scheduler.T_max = EPOCHS
    cfg.default_hooks.checkpoint.interval = EPOCHS
    cfg.log_level = 'WARNING'
    Runner.from_cfg(cfg).train()
    return osp.join(work_dir, f'epoch_{EPOCHS}.pth')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Tiny data on disk and two checkpoints: ST and a plain baseline."""
    root = tmp_path_factory.mktemp('analysis')
    data_root = str(root / 'fashion_mnist')
    (root / 'fashion_mnist').mkdir()
    write_tiny_fashion_mnist(data_root)
    return dict(
        root=root,
        data_root=data_root,
        st=train_tiny(ST, str(root / 'st'), data_root),
        baseline=train_tiny(BASELINE, str(root / 'baseline'), data_root))


@pytest.fixture(scope='module')
def eval_subnets_output(trained):
    """eval_subnets on both checkpoints, test split."""
    tool = load_tool('tools/analysis/eval_subnets.py')
    out_json = str(trained['root'] / 'subnets.json')
    out_png = str(trained['root'] / 'subnets.png')
    code = tool.main([
        '--runs', f'{ST}:{trained["st"]}:st',
        f'{BASELINE}:{trained["baseline"]}', '--split', 'test',
        '--max-subnets', '4', '--recalibration-images', '16', '--data-root',
        trained['data_root'], '--num-workers', '0', '--cfg-options',
        'test_dataloader.batch_size=16', 'train_dataloader.batch_size=16',
        '--out-json', out_json, '--out-png', out_png, '--x', 'flops'
    ])
    assert code == 0
    with open(out_json) as f:
        return json.load(f), out_png


def tiny_macs_classifier():
    """ResNet_CIFAR, 3 stages of 2 basic blocks, 4-8-16 channels, 1 input
    channel, 10 classes: small enough to count by hand."""
    return ImageClassifier(
        backbone=dict(
            type='ResNet_CIFAR',
            depth=18,
            in_channels=1,
            stem_channels=4,
            base_channels=4,
            num_stages=3,
            strides=(1, 2, 2),
            dilations=(1, 1, 1),
            out_indices=(2, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=16))


# Hand count for tiny_macs_classifier on one 1x8x8 image. A convolution
# costs H_out * W_out * C_out * C_in * k * k MACs; a linear layer C_in*C_out.
STEM = 8 * 8 * 4 * 1 * 3 * 3  # 3x3 conv 1 -> 4, 8x8 out = 2304
# layer1, 8x8, 4 -> 4 channels, no projection: two 3x3 convs 4 -> 4.
L1_B0 = 2 * (8 * 8 * 4 * 4 * 3 * 3)  # 18432
L1_B1 = 2 * (8 * 8 * 4 * 4 * 3 * 3)  # 18432
# layer2, stride 2, 4x4 out: 3x3 conv 4 -> 8, 3x3 conv 8 -> 8 and the
# 1x1 stride-2 projection 4 -> 8; then a block of two 3x3 convs 8 -> 8.
L2_B0 = 4 * 4 * 8 * 4 * 9 + 4 * 4 * 8 * 8 * 9 + 4 * 4 * 8 * 4 * 1  # 14336
L2_B1 = 2 * (4 * 4 * 8 * 8 * 3 * 3)  # 18432
# layer3, stride 2, 2x2 out, 8 -> 16 channels, as layer2.
L3_B0 = 2 * 2 * 16 * 8 * 9 + 2 * 2 * 16 * 16 * 9 + 2 * 2 * 16 * 8 * 1
L3_B1 = 2 * (2 * 2 * 16 * 16 * 3 * 3)  # 18432
FC = 16 * 10  # 160
FULL = STEM + L1_B0 + L1_B1 + L2_B0 + L2_B1 + L3_B0 + L3_B1 + FC


def test_block_macs_equal_hand_count():
    assert (STEM, L2_B0, L3_B0, FULL) == (2304, 14336, 14336, 104864)
    parts = block_macs(tiny_macs_classifier(), side=8, channels=1)
    assert parts['spatial'] == STEM
    assert parts['blocks'] == [[L1_B0, L1_B1], [L2_B0, L2_B1], [L3_B0, L3_B1]]
    assert parts['linear'] == FC
    # kept depths (1, 2, 1): the stem, the head and four blocks
    mask = ((True, False), (True, True), (True, False))
    assert subnet_macs(parts, mask) == STEM + L1_B0 + L2_B0 + L2_B1 + \
        L3_B0 + FC == 68000


class TensorMode(torch.nn.Module):
    """Calls a classifier in tensor mode."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


def test_subnet_macs_equal_counted_subnet():
    model = tiny_macs_classifier().eval()
    parts = block_macs(model, side=8, channels=1)
    stages = find_residual_stages(model.backbone)
    for spec in ((1, 1, 1), (2, 1, 2), (2, 2, 2)):
        with run_as_subnet(stages, spec) as mask:
            counted = count_macs(TensorMode(model), torch.zeros(1, 1, 8, 8))
        assert sum(counted.values()) == subnet_macs(parts, mask)


def test_expected_cost_ratio_equals_hand_count():
    model = tiny_macs_classifier()
    sampler = SubnetSampler(find_residual_stages(model.backbone), 'default')
    # default rule: every stage keeps 1 or 2 blocks with probability 1/2,
    # so each stage's first block is always kept and its second half the
    # time.
    kept = L1_B0 + 0.5 * L1_B1 + L2_B0 + 0.5 * L2_B1 + L3_B0 + 0.5 * L3_B1
    blocks = L1_B0 + L1_B1 + L2_B0 + L2_B1 + L3_B0 + L3_B1
    subnet = STEM + kept + FC
    result = expected_cost_ratio(model, sampler, 2, side=8, channels=1)
    assert result['full_macs'] == FULL
    assert result['expected_kept_fraction'] == pytest.approx(kept / blocks)
    assert result['expected_subnet_macs'] == pytest.approx(subnet)
    assert result['ratio'] == pytest.approx((FULL + 2 * subnet) / FULL)
    # subnet inputs of side 4..8 (min_scale 0.5): E[s^2] / 8^2
    area = (4**2 + 5**2 + 6**2 + 7**2 + 8**2) / 5 / 8**2
    assert area == pytest.approx(0.59375)
    resized = (STEM + kept) * area + FC
    result = expected_cost_ratio(
        model,
        sampler,
        2,
        side=8,
        channels=1,
        resize=RandomSubnetResize(min_scale=0.5))
    assert result['expected_area'] == pytest.approx(area)
    assert result['ratio'] == pytest.approx((FULL + 2 * resized) / FULL)


def test_count_macs_of_a_convolution_and_a_linear_layer():
    conv = torch.nn.Conv2d(3, 5, kernel_size=3, stride=2, padding=1)
    macs = count_macs(conv, torch.zeros(1, 3, 9, 9))
    assert macs == {'': 5 * 5 * 5 * 3 * 3 * 3}  # 5x5 out, 5 x 3 x 3 x 3
    fc = torch.nn.Linear(7, 2)
    assert count_macs(fc, torch.zeros(1, 7)) == {'': 14}


def test_parse_run_spec():
    spec = parse_run_spec('a/cfg.py:b/epoch_3.pth:mine')
    assert spec == ('a/cfg.py', 'b/epoch_3.pth', 'mine')
    assert parse_run_spec('a/cfg.py:b.pth').label == 'cfg'
    for bad in ('only.py', 'a.py::x', 'a:b:c:d'):
        with pytest.raises(ValueError, match='CONFIG:CHECKPOINT'):
            parse_run_spec(bad)


def test_random_block_sets_are_seeded_distinct_and_exhaustive():
    blocks = [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1)]
    sets, exhaustive = random_block_sets(blocks, 2, 4, seed=3)
    assert not exhaustive and len(sets) == len(set(sets)) == 4
    assert all(len(s) == 2 and list(s) == sorted(s) for s in sets)
    assert random_block_sets(blocks, 2, 4, seed=3)[0] == sets
    assert random_block_sets(blocks, 2, 4, seed=4)[0] != sets
    sets, exhaustive = random_block_sets(blocks, 4, 5, seed=0)
    assert exhaustive and len(sets) == 5
    with pytest.raises(ValueError, match='between 1'):
        random_block_sets(blocks, 6, 2, seed=0)


def test_lesion_mask_and_droppable_blocks():
    stages = find_residual_stages(tiny_macs_classifier().backbone)
    blocks = droppable_blocks(stages)
    assert blocks == [(0, 1), (1, 1), (2, 1)]
    assert [block_name(stages, b)
            for b in blocks] == ['layer1.1', 'layer2.1', 'layer3.1']
    assert lesion_mask(stages,
                       [(1, 1)]) == ((True, True), (True, False), (True, True))
    with pytest.raises(ValueError, match='cannot be dropped'):
        lesion_mask(stages, [(1, 0)])


def test_eval_subnets_json_and_png(eval_subnets_output):
    data, png = eval_subnets_output
    assert set(data) == {'settings', 'runs'}
    stim, baseline = data['runs']
    assert stim['label'] == 'st'
    assert stim['model'] == 'StimulativeClassifier'
    assert baseline['model'] == 'ImageClassifier'
    assert baseline['label'] == 'resnet14_baseline_fashion-mnist'
    for run in (stim, baseline):
        assert run['full_top1'] > 60  # learned: 5 classes, chance is 20
        assert run['rule'] == 'default'
        assert run['num_subnets_in_space'] == 8
        assert run['input_shape'] == [1, 28, 28]
        entries = run['subnets']
        assert len(entries) == run['num_evaluated'] == 4
        assert sum(e['full'] for e in entries) == 1
        full = next(e for e in entries if e['full'])
        assert full['depths'] == [2, 2, 2] and full['kept_blocks'] == 6
        assert full['macs'] == run['full_macs'] and full['macs_ratio'] == 1
        for e in entries:
            assert set(e) >= {
                'depths', 'mask', 'kept_blocks', 'macs', 'macs_ratio', 'top1',
                'top1_recalibrated'
            }
            assert 0 <= e['top1'] <= 100
            assert 0 <= e['top1_recalibrated'] <= 100
            assert sum(map(sum, e['mask'])) == e['kept_blocks']
            if not e['full']:
                assert e['macs'] < full['macs']
        subnets = [e['top1'] for e in entries if not e['full']]
        assert run['mean_subnet_top1'] == pytest.approx(
            sum(subnets) / len(subnets))
    with open(png, 'rb') as f:
        assert f.read(8) == PNG_MAGIC


@pytest.mark.parametrize('name', ['st', 'baseline'])
def test_full_entry_equals_test_tool(trained, eval_subnets_output, name):
    data, _ = eval_subnets_output
    run = data['runs'][0 if name == 'st' else 1]
    config = ST if name == 'st' else BASELINE
    out = str(trained['root'] / f'test_{name}.json')
    test_tool = load_tool('tools/test.py')
    code = test_tool.main([
        config, trained[name], '--out', out, '--work-dir',
        str(trained['root'] / f'test_{name}'), '--cfg-options',
        f'test_dataloader.dataset.data_root={trained["data_root"]}',
        'test_dataloader.num_workers=0', 'test_dataloader.batch_size=16'
    ])
    assert code == 0
    with open(out) as f:
        metrics = json.load(f)['metrics']
    # MMPretrain's metric is a float32 tensor; one image is 3.3 points.
    assert run['full_top1'] == pytest.approx(
        metrics['accuracy/top1'], abs=1e-4)


def test_lesion_tool_matches_run_as_subnet(trained):
    tool = load_tool('tools/analysis/lesion.py')
    out_json = str(trained['root'] / 'lesion.json')
    out_png = str(trained['root'] / 'lesion.png')
    code = tool.main([
        '--runs', f'{ST}:{trained["st"]}:st',
        f'{BASELINE}:{trained["baseline"]}:baseline', '--draws', '2',
        '--split', 'test', '--data-root', trained['data_root'],
        '--num-workers', '0', '--out-json', out_json, '--out-png', out_png
    ])
    assert code == 0
    with open(out_png, 'rb') as f:
        assert f.read(8) == PNG_MAGIC
    with open(out_json) as f:
        data = json.load(f)
    assert [r['label'] for r in data['runs']] == ['st', 'baseline']
    for run, config, checkpoint in zip(data['runs'], (ST, BASELINE),
                                       (trained['st'], trained['baseline'])):
        assert run['droppable'] == ['layer1.1', 'layer2.1', 'layer3.1']
        assert [r['k'] for r in run['random']] == [1, 2, 3]
        assert [len(r['draws']) for r in run['random']] == [2, 2, 1]
        assert [r['exhaustive'] for r in run['random']] == [False, False, True]
        model, loader, _ = load_classifier(config, checkpoint,
                                           trained['data_root'])
        stages = find_residual_stages(model.backbone)
        assert run['full']['top1'] == pytest.approx(
            top1_accuracy(model, loader), abs=1e-4)
        assert len(run['single']) == 3
        for entry, (stage, block) in zip(run['single'], [(0, 1), (1, 1),
                                                         (2, 1)]):
            assert entry['deleted'] == [[stage, block]]
            mask = [[True, True] for _ in range(3)]
            mask[stage][block] = False
            with run_as_subnet(stages, mask):
                expected = top1_accuracy(model, loader)
            assert entry['top1'] == pytest.approx(expected, abs=1e-4)
            assert entry['drop'] == pytest.approx(run['full']['top1'] -
                                                  expected, abs=1e-4)
        # a lesion that changes the accuracy: the comparison means something
        assert any(e['top1'] != run['full']['top1'] for e in run['single'])
        for r in run['random']:
            values = [d['top1'] for d in r['draws']]
            assert r['mean_top1'] == pytest.approx(np.mean(values))
            assert all(len(d['deleted']) == r['k'] for d in r['draws'])


def test_cost_benchmark_warms_every_side_without_changing_weights():
    tool = load_tool('tools/benchmark/cost.py')
    model = tiny_classifier()
    model.train()
    seen = []
    model.backbone.conv1.register_forward_hook(
        lambda module, args, output: seen.append(args[0].shape[-1]))
    before = {k: v.clone() for k, v in model.state_dict().items()
              if 'running' not in k and 'num_batches' not in k}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tool.warm_input_sides(model, fake_batch(2, 16), OptimWrapper(optimizer),
                          [12, 8, 12, 16])
    assert seen == [8, 12, 16]  # each distinct side once, in order
    assert all(p.grad is None for p in model.parameters())
    assert optimizer.state_dict()['state'] == {}
    for key, value in before.items():
        assert torch.equal(model.state_dict()[key], value), key


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
