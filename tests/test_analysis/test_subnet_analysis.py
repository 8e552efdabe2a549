# Copyright (c) mmstim contributors. All rights reserved.
"""The analysis library (costs, lesions, plots) and the analysis tools on
tiny checkpoints trained on a tiny on-disk dataset."""
import contextlib
import copy
import io
import json
import os.path as osp
import statistics

import numpy as np
import pytest
import torch
from helpers import load_classifier, load_tool, top1_accuracy
from mmpretrain.models import ImageClassifier

import mmstim  # noqa: F401
from mmstim.analysis import (block_name, droppable_blocks, lesion_mask,
                             parse_run_spec, random_block_sets)
from mmstim.analysis.cost import (block_macs, block_params, count_macs,
                                  expected_cost_ratio, measure_latency,
                                  pareto_optimal, processor_name, subnet_macs,
                                  subnet_params)
from mmstim.analysis.plot import plot_subnets, x_axis
from mmstim.models.subnets import (RandomSubnetResize, SubnetSampler,
                                   find_residual_stages, run_as_subnet)

pytestmark = pytest.mark.usefixtures('one_torch_thread')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs', 'fashion_mnist')
ST = osp.join(CONFIGS, 'resnet14_st_fashion-mnist.py')
BASELINE = osp.join(CONFIGS, 'resnet14_baseline_fashion-mnist.py')
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
EPOCHS = 3


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


@pytest.fixture(scope='module')
def frontier_output(trained):
    """eval_subnets with latency on both checkpoints, every subnet of the
    rule; returns the JSON, the PNG path and the printed table rows."""
    tool = load_tool('tools/analysis/eval_subnets.py')
    out_json = str(trained['root'] / 'frontier.json')
    out_png = str(trained['root'] / 'frontier.png')
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = tool.main([
            '--runs', f'{ST}:{trained["st"]}:st',
            f'{BASELINE}:{trained["baseline"]}:baseline', '--split', 'test',
            '--recalibration-images', '16', '--data-root',
            trained['data_root'], '--num-workers', '0', '--cfg-options',
            'test_dataloader.batch_size=16', 'train_dataloader.batch_size=16',
            '--x', 'latency', '--latency-batch-sizes', '1', '64',
            '--repeats', '3', '--warmup', '1', '--out-json', out_json,
            '--out-png', out_png
        ])
    assert code == 0
    rows = [line for line in stdout.getvalue().splitlines()
            if line.startswith(('| st |', '| baseline |', '| run |'))]
    with open(out_json) as f:
        return json.load(f), out_png, rows


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


# Parameters of tiny_macs_classifier: convolutions have no bias, a BN layer
# has a weight and a bias per channel, the head a 16x10 weight and a bias.
P_STEM = 4 * 1 * 3 * 3 + 2 * 4  # 44
P_L1 = 2 * (4 * 4 * 3 * 3 + 2 * 4)  # 304 per block
P_L2_B0 = 8 * 4 * 9 + 8 * 8 * 9 + 8 * 4 + 3 * (2 * 8)  # 944, projection too
P_L2_B1 = 2 * (8 * 8 * 9 + 2 * 8)  # 1184
P_L3_B0 = 16 * 8 * 9 + 16 * 16 * 9 + 16 * 8 + 3 * (2 * 16)  # 3680
P_L3_B1 = 2 * (16 * 16 * 9 + 2 * 16)  # 4672
P_FC = 16 * 10 + 10  # 170


def without_dropped_blocks(model, mask):
    """A copy of a classifier whose dropped blocks are deleted: the
    standalone smaller network of a subnet."""
    smaller = copy.deepcopy(model)
    for stage, stage_mask in zip(find_residual_stages(smaller.backbone),
                                 mask):
        kept = [b for b, keep in zip(stage.blocks, stage_mask) if keep]
        setattr(smaller.backbone, stage.name, torch.nn.Sequential(*kept))
    return smaller


def test_block_params_equal_hand_count():
    model = tiny_macs_classifier().eval()
    parts = block_params(model)
    assert parts['blocks'] == [[P_L1, P_L1], [P_L2_B0, P_L2_B1],
                               [P_L3_B0, P_L3_B1]]
    assert parts['other'] == P_STEM + P_FC == 214
    full = ((True, True), ) * 3
    assert subnet_params(parts, full) == sum(
        p.numel() for p in model.parameters()) == 11302
    mask = ((True, False), (True, True), (True, False))
    assert subnet_params(parts, mask) == \
        P_STEM + P_L1 + P_L2_B0 + P_L2_B1 + P_L3_B0 + P_FC == 6326
    stages = find_residual_stages(model.backbone)
    x = torch.rand(2, 1, 8, 8)
    for spec in ((1, 1, 1), (2, 1, 2), (1, 2, 1)):
        with run_as_subnet(stages, spec) as mask:
            expected = model(x, mode='tensor')
        smaller = without_dropped_blocks(model, mask)
        assert sum(p.numel() for p in smaller.parameters()) == \
            subnet_params(parts, mask)
        # the smaller network is the subnet
        assert torch.allclose(smaller(x, mode='tensor'), expected)


def test_pareto_optimal_on_hand_made_points():
    points = [
        (1, 50),  # cheapest: optimal
        (2, 60),  # optimal
        (2, 55),  # same cost, less accurate than (2, 60)
        (3, 60),  # as accurate as (2, 60), costlier
        (4, 70),  # optimal
        (4, 70),  # an equal point: both optimal
        (5, 65),  # costlier and less accurate than (4, 70)
        (1.5, 50),  # as accurate as (1, 50), costlier
    ]
    assert pareto_optimal(points) == [
        True, True, False, False, True, True, False, False
    ]
    assert pareto_optimal([]) == []
    assert pareto_optimal([(3, 1)]) == [True]


class CountingClassifier(torch.nn.Module):
    """Records the mode, grad mode and training flag of every call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, mode):
        self.calls.append((mode, torch.is_grad_enabled(), self.training))
        return x


def test_measure_latency_reports_median_of_timed_calls(monkeypatch):
    model = CountingClassifier().train()
    clock = iter([0, 3, 10, 11, 20, 22, 30, 35])  # calls of 3, 1, 2, 5 s
    monkeypatch.setattr('mmstim.analysis.cost.time.perf_counter',
                        lambda: next(clock))
    result = measure_latency(model, torch.zeros(6, 2), repeats=4, warmup=2)
    assert result == dict(batch_size=6, median_s=2.5, min_s=1,
                          times_s=[3, 1, 2, 5])
    assert model.calls == [('tensor', False, False)] * 6  # 2 warm-up + 4
    assert model.training  # restored
    with pytest.raises(ValueError, match='repeats'):
        measure_latency(model, torch.zeros(1, 2), repeats=0)


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


COST_AXES = ('params', 'macs', 'latency_b1', 'latency_b64')


def test_frontier_costs_equal_the_model(trained, frontier_output):
    data, png, _ = frontier_output
    latency = data['settings']['latency']
    assert (latency['batch_sizes'], latency['repeats'], latency['warmup'],
            latency['device']) == ([1, 64], 3, 1, 'cpu')
    assert latency['threads'] == torch.get_num_threads() == 1
    assert latency['processor'] == processor_name() != ''
    for run, config in zip(data['runs'], (ST, BASELINE)):
        model, _, _ = load_classifier(config, trained[run['label']],
                                      trained['data_root'])
        stages = find_residual_stages(model.backbone)
        entries = run['subnets']
        assert len(entries) == run['num_evaluated'] == 8  # the whole rule
        assert run['full_params'] == entries[0]['params'] == sum(
            p.numel() for p in model.parameters())
        image = torch.zeros(1, 1, 28, 28)
        assert run['full_macs'] == sum(
            count_macs(TensorMode(model), image).values())
        for e in entries:
            smaller = without_dropped_blocks(model, e['mask'])
            assert e['params'] == sum(p.numel() for p in smaller.parameters())
            with run_as_subnet(stages, e['mask']):
                macs = count_macs(TensorMode(model), image)
            assert e['macs'] == sum(macs.values())
            assert [t['batch_size'] for t in e['latency']] == [1, 64]
            for timing in e['latency']:
                assert len(timing['times_s']) == 3
                assert all(t > 0 for t in timing['times_s'])
                assert timing['median_s'] == statistics.median(
                    timing['times_s'])
                assert timing['min_s'] == min(timing['times_s'])
    with open(png, 'rb') as f:
        assert f.read(8) == PNG_MAGIC


def entry_cost(entry, axis):
    """An entry's cost on a Pareto axis, read from the JSON."""
    if axis.startswith('latency_b'):
        size = int(axis[len('latency_b'):])
        return next(t['median_s'] for t in entry['latency']
                    if t['batch_size'] == size)
    return entry[axis]


def test_frontier_pareto_flags(frontier_output):
    data, _, rows = frontier_output
    for run in data['runs']:
        assert run['pareto_accuracy'] == 'top1_recalibrated'
        entries = run['subnets']
        for axis in COST_AXES:
            costs = [entry_cost(e, axis) for e in entries]
            points = [(c, e['top1_recalibrated'])
                      for c, e in zip(costs, entries)]
            flags = [e['pareto'][axis] for e in entries]
            assert flags == pareto_optimal(points), axis
            best = max(e['top1_recalibrated'] for e in entries)
            # the cheapest of the most accurate subnets is on the front
            assert flags[min(range(len(entries)),
                             key=lambda i: (-points[i][1], costs[i]))]
            assert max(points[i][1] for i in range(len(flags))
                       if flags[i]) == best
    # the markdown table: a header, a separator, 8 rows per checkpoint
    assert rows[0].startswith('| run | subnet | kept blocks | params (M) |')
    assert 'latency b1 (ms) | latency b64 (ms)' in rows[0]
    assert len(rows) == 1 + 16
    for row, e in zip(rows[1:], data['runs'][0]['subnets']):
        pareto = row.rstrip(' |').rsplit('| ', 1)[1]
        assert pareto == (' '.join(a for a in COST_AXES if e['pareto'][a])
                          or '-')


@pytest.mark.parametrize('x', ['macs', 'params', 'latency'])
def test_frontier_plot_joins_the_pareto_points(frontier_output, x):
    data, _, _ = frontier_output
    _, value, axis = x_axis(x, data['runs'][0]['subnets'][0])
    fig = plot_subnets(data['runs'], x)
    fronts = [line for line in fig.axes[0].get_lines()
              if line.get_marker() == 'o']
    assert len(fronts) == len(data['runs'])
    for line, run in zip(fronts, data['runs']):
        front = sorted((value(e), e['top1_recalibrated'])
                       for e in run['subnets'] if e['pareto'][axis])
        assert list(zip(line.get_xdata(), line.get_ydata())) == front
    import matplotlib.pyplot as plt
    plt.close(fig)


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


def test_block_macs_count_the_linear_layers_of_blocks_once():
    """ConvNeXt blocks hold linear layers: they belong to their block, and
    only the head is the size-independent part."""
    model = ImageClassifier(
        backbone=dict(type='ConvNeXt',
                      arch=dict(depths=[2, 2, 2, 2],
                                channels=[8, 16, 32, 64])),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=64))
    parts = block_macs(model, 32)
    # stage 0 runs at 8x8 with 8 channels: a 7x7 depthwise convolution,
    # then linear layers 8 -> 32 -> 8 at every position
    assert parts['blocks'][0][0] == 8 * 8 * 8 * 49 + 8 * 8 * (8 * 32) * 2
    assert parts['linear'] == 64 * 10
    total = sum(count_macs(model.eval(), torch.zeros(1, 3, 32, 32)).values())
    assert sum(map(sum, parts['blocks'])) + parts['spatial'] + \
        parts['linear'] == total
