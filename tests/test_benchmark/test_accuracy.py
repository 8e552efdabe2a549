# Copyright (c) mmstim contributors. All rights reserved.
"""The accuracy benchmark's quick mode, end to end on tiny on-disk data."""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from helpers import load_tool, write_tiny_fashion_mnist
from mmengine.runner import Runner

from mmstim.analysis import device_name, evaluate_subnets
from mmstim.benchmark import accuracy as lib
from mmstim.benchmark import summary as summaries
from mmstim.engine import TrainingClockHook

pytestmark = pytest.mark.usefixtures('one_torch_thread')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHODS = ('baseline', 'droppath', 'st', 'stpp')


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/benchmark/accuracy.py')


def parse(argv):
    """The benchmark of a command line of the tool."""
    cli = load_tool('tools/benchmark/accuracy.py')
    return cli.benchmark(cli.parse_args(argv))


@pytest.fixture
def quick_args(tmp_path):
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root), num_train=24, num_test=10)
    out_json = tmp_path / 'results' / 'fashion_mnist.json'
    return [
        '--quick', '--data-root',
        str(data_root), '--work-dir',
        str(tmp_path / 'work_dirs'), '--out-json',
        str(out_json), '--recalibration-images', '8'
    ], out_json


def started(output):
    """The (method, seed) runs the benchmark said it trains."""
    return re.findall(
        r'^training (\w+) seed (\d+) \.\.\.$', output, flags=re.M)


def skipped(output):
    """The (method, seed) runs the benchmark said it skipped."""
    return re.findall(
        r'^skipped (\w+) seed (\d+): finished ', output, flags=re.M)


def checkpoint_times(data):
    return {
        (m, s): os.stat(run['checkpoint']).st_mtime_ns
        for m, runs in data['runs'].items()
        for s, run in runs.items()
    }


def test_quick_mode_end_to_end_then_skips_finished_runs(
        tool, quick_args, capsys):
    args, out_json = quick_args
    assert tool.main(args) == 0
    first = capsys.readouterr().out
    assert started(first) == [(m, '0') for m in METHODS]
    assert skipped(first) == []
    data = json.loads(out_json.read_text())
    assert set(data) >= {
        'runs', 'methods', 'tuning', 'num_seeds',
        'seeds_common_to_all_methods', 'excluded_runs'
    }
    assert data['seeds_common_to_all_methods'] == [0]
    assert data['num_seeds'] == 1 and data['excluded_runs'] == []
    assert set(data['methods']) == set(METHODS)
    for method in METHODS:
        run = data['runs'][method]['0']
        assert run['settings']['epochs'] == 1
        assert (run['train_images'], run['test_images']) == (24, 10)
        assert osp.isfile(run['checkpoint'])
        assert run['device'] == device_name()
        assert len(run['subnets']) == 8  # 2 x 2 x 2 kept depths
        summary = data['methods'][method]
        assert summary['top1_mean'] == run['top1']
        assert summary['top1_std'] is None  # one seed
        assert summary['top1_per_seed'] == {'0': run['top1']}
        assert 0 <= summary['top1_mean'] <= 100
        subnets = [
            s['top1'] for s in run['subnets'] if s['depths'] != [2, 2, 2]
        ]
        assert summary['mean_subnet_top1_mean'] == pytest.approx(
            np.mean(subnets))
        assert summary['mean_subnet_top1_recalibrated_mean'] is not None
        assert (summary['epochs'], summary['train_size'],
                summary['test_size']) == (1, 24, 10)
        assert summary['wall_time_s_per_run'] > 0
    recipe = data['methods']['stpp']['recipe']
    assert recipe['distill_loss']['amplitude'] == 1.0
    assert recipe['subnet_sampling']['num_subnets'] == 2
    assert data['methods']['droppath']['recipe']['drop_path_rate'] == 0.1
    assert data['tuning']['tuned'] == 'nothing'
    assert 'published 1.0 (untuned)' in data['tuning']['methods']
    table = out_json.with_suffix('.md').read_text()
    assert '| method | config | top-1, full network (%)' in table
    for method in METHODS:
        assert f'| {method} |' in table
    assert table in first
    assert f'Trained on: {device_name()}.' in table
    # the numbers are those of a direct evaluation of the checkpoint
    run = data['runs']['stpp']['0']
    results, _ = evaluate_subnets(
        lib.run_config(parse(args), 'stpp', 0),
        checkpoint=run['checkpoint'],
        rule='default',
        seed=0,
        recalibration_images=8)
    assert [{
        k: r[k]
        for k in ('depths', 'top1', 'top1_recalibrated')
    } for r in results] == run['subnets']
    assert run['top1'] == results[0]['top1'] and results[0]['full']
    times = checkpoint_times(data)

    assert tool.main(args) == 0
    second = capsys.readouterr().out
    assert skipped(second) == [(m, '0') for m in METHODS]
    assert started(second) == []
    again = json.loads(out_json.read_text())
    assert again['runs'] == data['runs']
    assert checkpoint_times(again) == times

    # other settings: the run is trained again and replaces the old one
    assert tool.main(args + ['--methods', 'baseline', '--epochs', '2']) == 0
    third = capsys.readouterr().out
    assert started(third) == [('baseline', '0')]
    rerun = json.loads(out_json.read_text())['runs']['baseline']['0']
    assert rerun['settings']['epochs'] == 2


def test_run_whose_evaluation_was_lost_is_evaluated_without_training(
        tool, quick_args, tmp_path, capsys, monkeypatch):
    args, out_json = quick_args
    args = args + ['--methods', 'st']
    assert tool.main(args) == 0
    capsys.readouterr()
    first = json.loads(out_json.read_text())['runs']['st']['0']
    training = json.loads((tmp_path / 'work_dirs' / 'st' / 'seed0' /
                           lib.TRAINING_RECORD).read_text())
    assert training['checkpoint'] == first['checkpoint']
    assert training['train_time_s'] == first['train_time_s']
    assert training['settings'] == first['settings']
    assert training['device'] == device_name()

    # the results JSON is lost (as when a process dies while evaluating)
    out_json.unlink()

    def no_training(runner):
        raise AssertionError('a finished training was started again')

    monkeypatch.setattr(Runner, 'train', no_training)
    assert tool.main(args) == 0
    output = capsys.readouterr().out
    assert started(output) == [('st', '0')]
    assert 'evaluating st seed 0: its training finished' in output
    again = json.loads(out_json.read_text())['runs']['st']['0']
    for key in ('top1', 'subnets', 'mean_subnet_top1', 'checkpoint',
                'train_time_s', 'device', 'settings'):
        assert again[key] == first[key], key
    assert again['wall_time_s'] > again['train_time_s']

    # another device's training is credited to that device
    training['device'] = 'a GPU elsewhere'
    lib.dump_atomic(
        training,
        str(tmp_path / 'work_dirs' / 'st' / 'seed0' / lib.TRAINING_RECORD))
    out_json.unlink()
    assert tool.main(args) == 0
    capsys.readouterr()
    moved = json.loads(out_json.read_text())['runs']['st']['0']
    assert moved['device'] == 'a GPU elsewhere'
    assert moved['evaluated_on'] == device_name()
    assert moved['top1'] == first['top1']

    # other settings or --force: the record is not used, training runs
    with pytest.raises(AssertionError, match='started again'):
        tool.main(args + ['--epochs', '2'])
    with pytest.raises(AssertionError, match='started again'):
        tool.main(args + ['--force'])


def fake_run(tool, args, method, seed, top1):
    return dict(
        settings=lib.run_settings(args, method),
        top1=top1,
        mean_subnet_top1=top1 - 10,
        mean_subnet_top1_recalibrated=top1 - 5,
        train_time_s=50.0,
        wall_time_s=60.0,
        recipe={},
        train_images=60000,
        test_images=10000)


def test_summary_uses_only_seeds_finished_for_every_method(tool, tmp_path):
    args = parse([
        '--methods', 'baseline', 'stpp', '--out-json',
        str(tmp_path / 'r.json')
    ])
    runs = {
        'baseline': {
            str(s): fake_run(tool, args, 'baseline', s, 90.0 + s)
            for s in (0, 1, 2)
        },
        'stpp': {
            str(s): fake_run(tool, args, 'stpp', s, 91.0 + 2 * s)
            for s in (0, 2)
        },
    }
    for method, minutes in (('baseline', 0.5), ('stpp', 1.5)):
        runs[method]['2'].update(device='a GPU', train_time_s=minutes * 60)
    stale = fake_run(tool, args, 'stpp', 1, 99.0)
    stale['settings'] = dict(stale['settings'], epochs=3)
    runs['stpp']['1'] = stale
    summary = summaries.summarize(dict(runs=runs), args)
    assert summary['seeds_common_to_all_methods'] == [0, 2]
    assert summary['num_seeds'] == 2
    assert summary['excluded_runs'] == ['baseline seed 1']
    baseline = summary['methods']['baseline']
    assert baseline['top1_per_seed'] == {'0': 90.0, '2': 92.0}
    assert baseline['top1_mean'] == pytest.approx(91.0)
    assert baseline['top1_std'] == pytest.approx(np.sqrt(2.0))  # ddof 1
    stpp = summary['methods']['stpp']
    assert stpp['top1_mean'] == pytest.approx(93.0)
    assert stpp['mean_subnet_top1_mean'] == pytest.approx(83.0)
    assert stpp['mean_subnet_top1_recalibrated_mean'] == pytest.approx(88.0)
    assert stpp['wall_time_s_total'] == 120.0
    # paired by seed: 91 - 90 and 95 - 92
    assert stpp['top1_minus_baseline_mean'] == pytest.approx(2.0)
    assert stpp['top1_minus_baseline_std'] == pytest.approx(np.sqrt(2.0))
    assert baseline['top1_minus_baseline_mean'] is None
    table = summaries.markdown(summary, args)
    row = '| baseline | `resnet14_baseline_fashion-mnist.py` | 91.00 ± 1.41 |'
    assert row in table
    assert stpp['train_time_s_per_run_by_device'] == {
        'a GPU': 90.0,
        'unknown': 50.0
    }
    # training time per run (min), a column per device
    assert '| method | a GPU | unknown |' in table
    assert '| baseline | 0.5 | 0.8 |' in table
    assert '| stpp | 1.5 | 0.8 |' in table
    assert '| 93.00 ± 2.83 | +2.00 ± 1.41 |' in table
    assert '2 seed(s)' in table
    assert 'baseline seed 1' in table


def write_runs(tool, path, runs):
    lib.dump_atomic(dict(runs=runs), str(path))


def test_merge_adds_runs_made_elsewhere_without_training(
        tool, tmp_path, capsys):
    out = tmp_path / 'merged.json'
    args = [
        '--methods', 'baseline', 'stpp', '--out-json',
        str(out), '--data-root',
        str(tmp_path / 'no_data_needed')
    ]
    parsed = parse(args)
    first, second = tmp_path / 'a.json', tmp_path / 'b.json'
    write_runs(
        tool, first, {
            'baseline': {
                '0': fake_run(tool, parsed, 'baseline', 0, 90.0)
            },
            'stpp': {
                '0': fake_run(tool, parsed, 'stpp', 0, 91.0)
            },
        })
    write_runs(
        tool, second, {
            'baseline': {
                '1': fake_run(tool, parsed, 'baseline', 1, 92.0)
            },
            'stpp': {
                '1': fake_run(tool, parsed, 'stpp', 1, 95.0)
            },
        })
    assert tool.main(args + ['--merge', str(first), str(second)]) == 0
    output = capsys.readouterr().out
    assert started(output) == []
    data = json.loads(out.read_text())
    assert data['seeds_common_to_all_methods'] == [0, 1]
    assert data['methods']['baseline']['top1_mean'] == pytest.approx(91.0)
    assert data['methods']['stpp']['top1_mean'] == pytest.approx(93.0)
    assert data['methods']['stpp']['top1_std'] == pytest.approx(
        np.std([91.0, 95.0], ddof=1))
    assert out.with_suffix('.md').read_text() in output

    # a run already there with the same settings is kept, unless --force
    third = tmp_path / 'c.json'
    write_runs(tool, third,
               {'stpp': {
                   '0': fake_run(tool, parsed, 'stpp', 0, 50.0)
               }})
    assert tool.main(args + ['--merge', str(third)]) == 0
    assert 'kept stpp seed 0' in capsys.readouterr().out
    assert json.loads(out.read_text())['runs']['stpp']['0']['top1'] == 91.0
    assert tool.main(args + ['--merge', str(third), '--force']) == 0
    assert json.loads(out.read_text())['runs']['stpp']['0']['top1'] == 50.0

    # a run made with other options is merged, and the user is told why the
    # summary leaves it out
    other = tmp_path / 'd.json'
    write_runs(tool, other, {'stpp': {'2': fake_run(
        tool, parse(args + ['--set', 'custom_hooks.0.rule=sandwich']),
        'stpp', 2, 60.0)}})
    assert tool.main(args + ['--merge', str(other)]) == 0
    output = capsys.readouterr().out
    assert "merged stpp seed 2" in output
    assert "warning: it was run with other overrides " \
        "({'overrides': {'custom_hooks.0.rule': 'sandwich'}}) than these " \
        "({'overrides': None})" in output
    assert json.loads(out.read_text())['seeds_common_to_all_methods'] == [
        0, 1]


def test_merge_refuses_unknown_methods_and_missing_files(
        tool, tmp_path, capsys):
    out = tmp_path / 'merged.json'
    args = ['--methods', 'baseline', '--out-json', str(out)]
    other = tmp_path / 'other.json'
    write_runs(tool, other, {'stpp': {'0': {}}})
    assert tool.main(args + ['--merge', str(other)]) == 2
    err = capsys.readouterr().err
    assert "method 'stpp'" in err and "['baseline']" in err
    assert tool.main(args + ['--merge', str(tmp_path / 'absent.json')]) == 2
    assert 'absent.json does not exist' in capsys.readouterr().err
    assert not out.exists()


def test_missing_data_is_a_clear_error(tool, tmp_path, capsys):
    code = tool.main([
        '--quick', '--data-root',
        str(tmp_path / 'nothing'), '--out-json',
        str(tmp_path / 'r.json')
    ])
    assert code == 2
    assert 'prepare_fashion_mnist' in capsys.readouterr().err
    assert not (tmp_path / 'r.json').exists()


def image_indices(dataset, reference):
    """The indices in ``reference`` of a data set's images, in order."""

    def images(data):
        return [
            data.get_data_info(i)['img'].tobytes() for i in range(len(data))
        ]

    where = {image: i for i, image in enumerate(images(reference))}
    assert len(where) == len(reference)  # the noisy images are distinct
    return [where[image] for image in images(dataset)]


@pytest.fixture
def holdout_data(tmp_path):
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root), num_train=40, num_test=10)
    return str(data_root)


@pytest.mark.parametrize('train_size', [0, 20])
def test_holdout_evaluates_the_last_training_images(tool, holdout_data,
                                                    tmp_path, train_size):
    from mmpretrain.datasets import FashionMNIST
    args = parse([
        '--quick', '--holdout', '10', '--train-size',
        str(train_size), '--data-root', holdout_data, '--work-dir',
        str(tmp_path / 'w')
    ])
    cfg = lib.run_config(args, 'stpp', 0)
    full = FashionMNIST(data_root=holdout_data, split='train')
    assert len(full) == 40 == lib.num_images(holdout_data)
    held_out = FashionMNIST(**{
        k: v
        for k, v in cfg.test_dataloader.dataset.items() if k != 'type'
    })
    train = FashionMNIST(**{
        k: v
        for k, v in cfg.train_dataloader.dataset.items() if k != 'type'
    })
    assert image_indices(held_out, full) == list(range(30, 40))
    assert image_indices(train, full) == list(range(train_size or 30))
    assert not set(image_indices(held_out, full)) & set(
        image_indices(train, full))
    # evaluated with the test pipeline, trained with augmentation
    assert cfg.test_dataloader.dataset.pipeline == [dict(type='PackInputs')]
    assert cfg.train_dataloader.dataset.pipeline[0].type == 'RandomCrop'
    settings = lib.run_settings(args, 'stpp')
    assert settings['holdout'] == 10 and 'test_size' not in settings
    assert settings['train_size'] == (train_size or lib.TRAIN_IMAGES - 10)
    assert lib.evaluation_split(
        args.holdout) == 'validation: last 10 training images'
    # a validation run is never the test run of the same training
    test_args = parse(['--quick', '--train-size', str(train_size)])
    assert not lib.is_current(
        dict(settings=settings), lib.run_settings(test_args, 'stpp'))
    assert lib.evaluation_split(test_args.holdout) == 'test'
    assert 'holdout' not in lib.run_settings(test_args, 'stpp')


def test_holdout_errors(tool, holdout_data, tmp_path, capsys):
    out = tmp_path / 'r.json'
    common = ['--quick', '--data-root', holdout_data, '--out-json', str(out)]
    # quick trains on 256 images; 40 - 10 are left
    assert tool.main(common + ['--holdout', '10']) == 2
    assert '--holdout 10 leaves 30 training images' in capsys.readouterr().err
    assert tool.main(common + ['--holdout', '40', '--train-size', '0']) == 2
    assert 'leaves 0 training images' in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        parse(['--holdout', '10', '--test-size', '100'])
    assert '--test-size picks test images' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(['--holdout', '10000', '--train-size', '50001'])
    assert 'more than the 50000 training images' in capsys.readouterr().err


def test_set_overrides_configs_settings_and_work_dirs(tool, tmp_path):
    args = parse([
        '--methods', 'baseline', 'droppath', '--work-dir',
        str(tmp_path), '--set', 'droppath:model.backbone.drop_path_rate=0.05',
        'model.head.init_cfg.std=0.2'
    ])
    droppath = lib.run_config(args, 'droppath', 1)
    baseline = lib.run_config(args, 'baseline', 1)
    assert droppath.model.backbone.drop_path_rate == 0.05
    assert lib.recipe(droppath)['drop_path_rate'] == 0.05
    assert 'drop_path_rate' not in baseline.model.backbone
    assert droppath.model.head.init_cfg.std == 0.2
    assert baseline.model.head.init_cfg.std == 0.2
    assert lib.run_settings(args, 'droppath')['overrides'] == {
        'model.backbone.drop_path_rate': 0.05,
        'model.head.init_cfg.std': 0.2
    }
    assert lib.run_settings(args, 'baseline')['overrides'] == {
        'model.head.init_cfg.std': 0.2
    }
    assert droppath.work_dir == str(
        tmp_path / 'droppath' /
        'model.backbone.drop_path_rate=0.05,model.head.init_cfg.std=0.2' /
        'seed1')
    # without overrides: the config's value, the plain settings and folder
    plain = parse(['--work-dir', str(tmp_path)])
    assert lib.run_config(plain, 'droppath',
                          1).model.backbone['drop_path_rate'] == 0.1
    assert 'overrides' not in lib.run_settings(plain, 'droppath')
    assert lib.run_dir(plain, 'droppath',
                       1) == str(tmp_path / 'droppath' / 'seed1')
    assert not lib.is_current(
        dict(settings=lib.run_settings(plain, 'droppath')),
        lib.run_settings(args, 'droppath'))
    # a key set for one method wins over the same key set for all
    both = parse([
        '--set', 'model.head.init_cfg.std=0.2',
        'baseline:model.head.init_cfg.std=0.3'
    ])
    assert lib.method_overrides(both.overrides, 'baseline') == {
        'model.head.init_cfg.std': 0.3
    }
    assert lib.method_overrides(both.overrides, 'stpp') == {
        'model.head.init_cfg.std': 0.2
    }


def test_set_unknown_key_is_a_clear_error(tool, tmp_path, capsys):
    out = tmp_path / 'r.json'
    code = tool.main([
        '--methods', 'stpp', 'baseline', '--out-json',
        str(out), '--set', 'model.distill_loss.amplitude=2.0', '--merge',
        str(tmp_path / 'unused.json')
    ])
    assert code == 2
    err = capsys.readouterr().err
    assert "--set model.distill_loss.amplitude: the baseline config" in err
    assert 'resnet14_baseline_fashion-mnist.py' in err
    assert not out.exists()
    with pytest.raises(
            ValueError,
            match=r"droppath config .* no "
            r"'model.backbone.drop_rate'"):
        lib.method_config(
            parse(['--set', 'model.backbone.drop_rate=0.1']), 'droppath')
    with pytest.raises(SystemExit):
        parse([
            '--methods', 'baseline', '--set',
            'stpp:model.distill_loss.amplitude=2.0'
        ])
    assert "'stpp' is not one of the compared methods" in (
        capsys.readouterr().err)


def test_validation_run_then_test_evaluation_of_the_same_training(
        tool, holdout_data, tmp_path, capsys, monkeypatch):
    common = [
        '--quick', '--methods', 'baseline', 'stpp', '--train-size', '30',
        '--data-root', holdout_data, '--work-dir',
        str(tmp_path / 'w'), '--recalibration-images', '8', '--set',
        'stpp:model.distill_loss.amplitude=2.0'
    ]
    val_json, test_json = tmp_path / 'val.json', tmp_path / 'test.json'
    # on validation: the full network and 2 subnets drawn with the seed
    validation = common + ['--holdout', '10', '--subnets', '3']
    assert tool.main(validation + ['--out-json', str(val_json)]) == 0
    capsys.readouterr()
    val = json.loads(val_json.read_text())
    assert val['evaluated_split'] == 'validation: last 10 training images'
    assert val['tuning']['evaluated_split'] == val['evaluated_split']
    assert 'test images are not used' in val['tuning']['test_set']
    assert 'model.distill_loss.amplitude=2.0' in val['tuning']['tuned']
    stpp = val['runs']['stpp']['0']
    assert (stpp['train_images'], stpp['test_images']) == (30, 10)
    assert stpp['settings']['holdout'] == 10
    assert stpp['settings']['subnets'] == 3 and len(stpp['subnets']) == 3
    assert stpp['settings']['overrides'] == {
        'model.distill_loss.amplitude': 2.0
    }
    assert stpp['recipe']['distill_loss']['amplitude'] == 2.0
    assert 'overrides' not in val['runs']['baseline']['0']['settings']
    assert val['methods']['stpp']['overrides'] == {
        'model.distill_loss.amplitude': 2.0
    }
    table = val_json.with_suffix('.md').read_text()
    assert 'top-1 on 10 validation images (the last 10 training images' in (
        table)
    assert 'Config overrides (`--set`): stpp: ' in table
    assert 'the ST++ KL- amplitude is 2.0 (set by --set)' in table

    # the test evaluation reuses the training: nothing is trained again
    def no_training(runner):
        raise AssertionError('a finished training was started again')

    monkeypatch.setattr(Runner, 'train', no_training)
    assert tool.main(common + ['--out-json', str(test_json)]) == 0
    output = capsys.readouterr().out
    assert output.count('its training finished') == 2
    test = json.loads(test_json.read_text())
    assert test['evaluated_split'] == 'test'
    for method in ('baseline', 'stpp'):
        run, val_run = test['runs'][method]['0'], val['runs'][method]['0']
        assert (run['train_images'], run['test_images']) == (30, 10)
        assert run['checkpoint'] == val_run['checkpoint']
        assert run['train_time_s'] == val_run['train_time_s']
        assert len(run['subnets']) == 8  # all of them
        assert run['settings'] == dict(
            {
                k: v
                for k, v in val_run['settings'].items()
                if k not in ('holdout', 'subnets')
            },
            test_size=256)  # quick
    assert 'test images' in test_json.with_suffix('.md').read_text()
    # the validation numbers are those of the checkpoint on the held-out
    # images
    results, _ = evaluate_subnets(
        lib.run_config(parse(validation), 'stpp', 0),
        checkpoint=stpp['checkpoint'],
        rule='default',
        seed=0,
        recalibration_images=8,
        subnets=3)
    assert results[0]['full']
    assert [{
        k: r[k]
        for k in ('depths', 'top1', 'top1_recalibrated')
    } for r in results] == stpp['subnets']


@pytest.mark.parametrize('workers', ['0', '1'])
def test_interrupted_training_resumes_to_the_uninterrupted_weights(
        tool, quick_args, tmp_path, capsys, monkeypatch, workers):
    args, out_json = quick_args
    args = args + [
        '--methods', 'stpp', '--epochs', '2', '--num-workers', workers
    ]
    whole = args + ['--work-dir', str(tmp_path / 'whole')]
    assert tool.main(whole) == 0
    capsys.readouterr()
    uninterrupted = json.loads(out_json.read_text())['runs']['stpp']['0']

    def interrupt(self, runner):  # after the first epoch's checkpoint
        raise KeyboardInterrupt('stopped after epoch 1')

    out_json = tmp_path / 'parts.json'
    parts = args + [
        '--work-dir',
        str(tmp_path / 'parts'), '--out-json',
        str(out_json)
    ]
    with monkeypatch.context() as patch:
        patch.setattr(TrainingClockHook, 'after_train_epoch', interrupt)
        with pytest.raises(KeyboardInterrupt):
            tool.main(parts)
    capsys.readouterr()
    work_dir = tmp_path / 'parts' / 'stpp' / 'seed0'
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_1.pth']
    first_part = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    assert first_part['meta']['train_time_s'] > 0

    assert tool.main(parts) == 0
    output = capsys.readouterr().out
    assert f'resuming stpp seed 0 from {work_dir / "epoch_1.pth"}' in output
    resumed = json.loads(out_json.read_text())['runs']['stpp']['0']
    weights = [
        torch.load(run['checkpoint'], weights_only=True)['state_dict']
        for run in (uninterrupted, resumed)
    ]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
    assert resumed['top1'] == uninterrupted['top1']
    assert resumed['subnets'] == uninterrupted['subnets']
    # the first epoch's seconds are carried into the training time
    assert resumed['train_time_s'] > first_part['meta']['train_time_s']

    # a training started with other settings is not resumed
    with monkeypatch.context() as patch:
        patch.setattr(TrainingClockHook, 'after_train_epoch', interrupt)
        with pytest.raises(KeyboardInterrupt):
            tool.main(parts + ['--epochs', '3'])
    assert tool.main(parts + ['--epochs', '4']) == 0
    output = capsys.readouterr().out
    assert 'resuming' not in output
    record = json.loads((work_dir / lib.STARTED_RECORD).read_text())
    assert record['settings']['epochs'] == 4
