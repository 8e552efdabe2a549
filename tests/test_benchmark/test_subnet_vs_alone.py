# Copyright (c) mmstim contributors. All rights reserved.
"""Subnets against the same architectures trained alone."""
import json
import os.path as osp

import pytest
from helpers import REPO, load_tool

from mmstim.benchmark.subnet_vs_alone import compute_units, markdown

tool = load_tool('tools/analysis/subnet_vs_alone.py')

# MACs of the Fashion-MNIST ResNet-14 on one 1x28x28 image, by hand: a
# convolution costs H_out * W_out * C_out * C_in * k * k.
STEM = 28 * 28 * 16 * 1 * 9
BLOCK_16 = 2 * 28 * 28 * 16 * 16 * 9  # two 3x3 convs, 16 channels, 28x28
DOWN_32 = 14 * 14 * 32 * (16 * 9 + 32 * 9 + 16)  # stride 2, 1x1 projection
BLOCK_32 = 2 * 14 * 14 * 32 * 32 * 9
DOWN_64 = 7 * 7 * 64 * (32 * 9 + 64 * 9 + 32)
BLOCK_64 = 2 * 7 * 7 * 64 * 64 * 9
FC = 64 * 10
FULL = STEM + 2 * BLOCK_16 + DOWN_32 + BLOCK_32 + DOWN_64 + BLOCK_64 + FC


def recorded(method, overrides=None):
    """The parts of a run record that name its config and overrides."""
    return dict(config=f'configs/fashion_mnist/resnet14_{method}_'
                'fashion-mnist.py', settings=dict(overrides=overrides))


def test_compute_units_are_mac_ratios_by_hand():
    results = dict(runs={m: {'0': recorded(m)} for m in ('baseline', 'stpp')})
    units = compute_units(results, [[1, 1, 1], [2, 2, 1]])
    assert units['1-1-1'] == pytest.approx(
        (STEM + BLOCK_16 + DOWN_32 + DOWN_64 + FC) / FULL, rel=1e-9)
    assert units['2-2-1'] == pytest.approx(
        (FULL - BLOCK_64) / FULL, rel=1e-9)
    assert units['baseline'] == 1.0
    assert units['stpp'] > units['1-1-1'] + 1  # the full network and more


def test_compute_units_follow_the_recorded_overrides():
    """ST draws one subnet; with the sandwich rule and 2 subnets, the second
    is the 1-1-1 one, so the run costs exactly one 1-1-1 subnet more."""
    plain = compute_units(dict(runs=dict(st={'0': recorded('st')})),
                          [[1, 1, 1]])
    sandwich = compute_units(
        dict(runs=dict(st={'0': recorded('st', {
            'custom_hooks.0.rule': 'sandwich',
            'custom_hooks.0.num_subnets': 2})})), [[1, 1, 1]])
    assert sandwich['st'] == pytest.approx(
        plain['st'] + plain['1-1-1'], rel=1e-9)


def subnet_entry(depths, top1, recal):
    return dict(depths=depths, top1=top1, top1_recalibrated=recal)


def benchmark_results(tmp_path):
    """Hand-made results: two methods, two seeds; 1-1-1 trained alone on
    seeds 0, 1 and 2 (seed 2 is not common, so it is left out)."""
    runs = {
        method: {
            str(seed): dict(train_time_s=600.0 * (seed + 1) * (
                2 if method == 'stpp' else 1), test_images=123, **recorded(
                    method), subnets=[
                    subnet_entry([2, 2, 2], 93.0, 93.1),
                    subnet_entry([1, 1, 1], 50.0 + seed, offset + seed)])
            for seed in (0, 1)
        } for method, offset in (('baseline', 60.0), ('stpp', 90.0))
    }
    subnets = dict(runs=runs)
    alone = dict(runs=dict(baseline={
        str(seed): dict(
            top1=88.0 + 2 * seed, train_time_s=300.0,
            settings=dict(stage_blocks=[1, 1, 1]),
            subnets=[subnet_entry([1, 1, 1], 88.0 + 2 * seed, 87.0)])
        for seed in (0, 1, 2)}))
    paths = [str(tmp_path / name) for name in ('full.json', 'alone.json')]
    for path, data in zip(paths, (subnets, alone)):
        with open(path, 'w') as f:
            json.dump(data, f)
    return paths


def test_comparison_table_from_results(tmp_path, capsys):
    full, alone = benchmark_results(tmp_path)
    out_json = str(tmp_path / 'out.json')
    assert tool.main(['--subnets-json', full, '--alone-json', alone,
                      '--out-json', out_json]) == 0
    with open(out_json) as f:
        result = json.load(f)
    assert result['seeds'] == [0, 1]
    row = result['architectures']['1-1-1']
    assert row['alone']['top1'] == dict(mean=89.0, std=2 ** 0.5, n=2)
    assert row['alone']['top1_recalibrated']['mean'] == 87.0
    assert row['alone']['train_minutes']['mean'] == 5.0
    assert row['stpp']['top1_recalibrated'] == dict(
        mean=90.5, std=0.5 ** 0.5, n=2)
    assert row['baseline']['top1']['mean'] == 50.5
    assert result['full_runs']['train_minutes']['stpp']['mean'] == 30.0
    assert result['full_runs']['compute']['baseline'] == 1.0
    table = capsys.readouterr().out
    assert '| 1-1-1 | 89.00 ± 1.41 | 87.00 ± 0.00 | 60.50 ± 0.71 | ' \
        '90.50 ± 0.71 |' in table
    with open(str(tmp_path / 'out.md')) as f:
        assert f.read() in table
    # the number of test images is the runs', not a constant
    assert result['test_images'] == 123
    assert 'Top-1 (%) on the 123 Fashion-MNIST test images' in table


@pytest.mark.parametrize('name', ['fashion_mnist', 'sandwich'])
def test_committed_report_is_its_markdown(name):
    path = osp.join(REPO, 'benchmarks', 'results', f'subnet_vs_alone_{name}')
    with open(path + '.json') as f, open(path + '.md') as g:
        assert markdown(json.load(f)) == g.read()


def test_no_common_seed_is_an_error(tmp_path, capsys):
    full, alone = benchmark_results(tmp_path)
    with open(alone) as f:
        data = json.load(f)
    data['runs']['baseline'] = {'2': data['runs']['baseline']['2']}
    with open(alone, 'w') as f:
        json.dump(data, f)
    assert tool.main(['--subnets-json', full, '--alone-json', alone,
                      '--out-json', str(tmp_path / 'o.json')]) == 2
    assert 'no seed is finished in every results file' in \
        capsys.readouterr().err


def test_several_results_files_name_methods_by_their_overrides(
        tmp_path, capsys):
    full, alone = benchmark_results(tmp_path)
    with open(full) as f:
        data = json.load(f)
    sandwich = {'custom_hooks.0.rule': 'sandwich'}
    for run in data['runs']['stpp'].values():
        run.update(recorded('stpp', sandwich), top1=0.0)
        run['subnets'][1]['top1_recalibrated'] += 1.0
    other = str(tmp_path / 'sandwich.json')
    with open(other, 'w') as f:
        json.dump(dict(runs=dict(stpp=data['runs']['stpp'])), f)
    out_json = str(tmp_path / 'out.json')
    assert tool.main(['--subnets-json', full, other, '--alone-json', alone,
                      '--out-json', out_json]) == 0
    with open(out_json) as f:
        result = json.load(f)
    row = result['architectures']['1-1-1']
    assert row['stpp']['top1_recalibrated']['mean'] == 90.5
    assert row['stpp (rule=sandwich)']['top1_recalibrated']['mean'] == 91.5
    compute = result['full_runs']['compute']
    assert compute['stpp (rule=sandwich)'] == pytest.approx(compute_units(
        dict(runs=dict(stpp={'0': recorded('stpp', sandwich)})),
        [])['stpp'])
    assert compute['stpp (rule=sandwich)'] != compute['stpp']
    assert '| subnet of stpp (rule=sandwich), exported (BN re-est.) |' in \
        capsys.readouterr().out
    # the same method with the same overrides in two files is an error
    assert tool.main(['--subnets-json', other, other, '--alone-json', alone,
                      '--out-json', out_json]) == 2
    assert 'stpp (rule=sandwich) is in two --subnets-json files' in \
        capsys.readouterr().err
