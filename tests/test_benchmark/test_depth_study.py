# Copyright (c) mmstim contributors. All rights reserved.
"""The depth study: choices on validation, report on test."""
import json
import os
import os.path as osp
import threading

import pytest
from helpers import load_tool, write_tiny_fashion_mnist

from mmstim.analysis import plot_gains
from mmstim.benchmark import accuracy
from mmstim.benchmark import depth_study as study_lib
from mmstim.benchmark import scheduler
from mmstim.utils.report import dump_atomic

CLI = load_tool('tools/benchmark/depth_study.py')


@pytest.fixture(scope='module')
def study():
    return study_lib


def parse(argv):
    """The study of a command line of the tool."""
    return CLI.depth_study(CLI.parse_args(argv))


def test_choice_is_the_best_mean_and_a_tie_goes_to_the_config(study):
    top1 = {'0.05': [90.0, 91.0], '0.1': [90.5, 90.4], '0.2': [91.0, 89.8]}
    assert study.choose(top1, default='0.1') == '0.05'  # 90.5
    tie = {'1.0': [90.0, 91.0], '2.0': [91.0, 90.0], '4.0': [89.0, 89.0]}
    assert study.choose(tie, default='1') == '1.0'  # 1 == 1.0
    assert study.choose({'2.0': [90.0], '4.0': [90.0]}, '1.0') == '2.0'
    assert study.config_value('droppath') == '0.1'
    assert study.config_value('stpp') == '1.0'


def test_equal_compute_epochs_take_the_time_of_stpp(study):
    assert study.equal_compute_epochs(30, [110.0, 130.0], [60.0]) == 60
    assert study.equal_compute_epochs(30, [100.0], [60.0]) == 50
    assert study.equal_compute_epochs(10, [104.0], [60.0]) == 17  # 17.33


def test_commands_of_validation_test_and_equal_compute_runs(study, tmp_path):
    args = parse([
        '--stage-blocks', '5', '5', '5', '--jobs', '2', '--work-dir',
        str(tmp_path)
    ])
    assert (args.net, args.subnets,
            args.threads) == ('r32', 16, max(1, (os.cpu_count() or 1) // 2))
    val = study.command(args, study.Run('stpp', 0, 'val', '2.0'))
    text = ' '.join(val)
    assert '--set stpp:model.distill_loss.amplitude=2.0' in text
    assert '--holdout 10000' in text and '--subnets 1' in text
    assert '--stage-blocks 5 5 5' in text
    assert val[val.index('--work-dir') + 1] == str(tmp_path / 'r32')
    assert val[val.index('--out-json') + 1] == str(
        tmp_path / 'r32' / 'results' / 'val_stpp_2.0_seed0.json')
    test = study.command(args, study.Run('baseline', 1, 'test', epochs=55))
    assert '--holdout' not in test and '--set' not in test
    assert test[test.index('--epochs') + 1] == '55'
    assert test[test.index('--subnets') + 1] == '16'
    assert test[test.index('--work-dir') + 1] == str(tmp_path /
                                                     'r32_equal_compute_55ep')
    r14 = parse(['--work-dir', str(tmp_path)])
    assert r14.subnets is None  # all 7 subnets of ResNet-14
    assert '--stage-blocks' not in study.command(
        r14, study.Run('baseline', 0, 'test'))


@pytest.mark.parametrize('argv,message', [
    (['--amplitudes', 'two'], "--amplitudes: 'two' is not a number"),
    (['--selection-seeds', '3'], '--selection-seeds [3] are not in --seeds'),
    (['--stage-blocks', '0', '2', '2'], '--stage-blocks must be at least 1'),
])
def test_bad_options_are_clear_errors(study, argv, message, capsys):
    with pytest.raises(SystemExit):
        parse(argv)
    assert message in capsys.readouterr().err


def write_scalars(work_dir, timestamp, steps):
    """MMEngine's scalars.json of one part of a run: (step, seconds) of
    logged training iterations, and a line without a learning rate."""
    folder = osp.join(work_dir, timestamp, 'vis_data')
    os.makedirs(folder, exist_ok=True)
    with open(osp.join(folder, 'scalars.json'), 'w') as f:
        for step, seconds in steps:
            f.write(json.dumps(dict(lr=0.1, time=seconds, step=step)) + '\n')
        f.write(json.dumps(dict(time=99.0, step=0)) + '\n')


def test_iteration_seconds_is_the_median_over_a_runs_parts(study, tmp_path):
    write_scalars(
        str(tmp_path), '20261203_010000', [(50, 0.3), (129, 0.4), (208, 5.0)])
    # resumed: step 208 logged again, as its last part logged it
    write_scalars(
        str(tmp_path), '20261203_020000', [(208, 0.5), (287, 0.35),
                                           (366, 0.45)])
    assert study.iteration_seconds(str(tmp_path)) == 0.4  # of 5 steps
    with pytest.raises(ValueError, match='no logged training iteration'):
        study.iteration_seconds(str(tmp_path / 'nothing'))


def fake_result(args, run, top1, seconds, subnet_top1=80.0):
    """What the accuracy benchmark writes for one finished run."""
    settings = accuracy.run_settings(
        study_lib.run_benchmark(args, run), run.method)
    work_dir = osp.join(args.work_dir, 'fake', run.name)
    write_scalars(work_dir, '20261203_000000', [(1, seconds / 100)])
    result = dict(
        method=run.method,
        seed=run.seed,
        settings=settings,
        top1=top1,
        mean_subnet_top1=subnet_top1,
        mean_subnet_top1_recalibrated=subnet_top1 + 5,
        train_time_s=seconds,
        device='cpu',
        work_dir=work_dir,
        test_images=10000)
    path = study_lib.results_path(args, run)
    os.makedirs(osp.dirname(path), exist_ok=True)
    # atomically, as the benchmark does: the study reads it from another thread
    dump_atomic(dict(runs={run.method: {str(run.seed): result}}), path)


def test_report_from_finished_runs(study, tmp_path):
    args = parse([
        '--work-dir',
        str(tmp_path), '--seeds', '0', '1', '--out-json',
        str(tmp_path / 'study.json')
    ])
    Run = study.Run
    validation = {
        Run('baseline', 0, 'val'): (90.0, 60.0),
        Run('droppath', 0, 'val', '0.05'): (90.2, 62.0),
        Run('droppath', 0, 'val', '0.1'): (90.6, 61.0),
        Run('droppath', 0, 'val', '0.2'): (90.6, 61.0),
        Run('stpp', 0, 'val', '1.0'): (89.0, 100.0),
        Run('stpp', 0, 'val', '2.0'): (90.8, 122.0),
        Run('stpp', 0, 'val', '4.0'): (90.1, 130.0),
    }
    for run, (top1, seconds) in list(validation.items())[:-1]:
        fake_result(args, run, top1, seconds)
    assert study.validation(args) is None  # one validation run is missing
    assert CLI.main([
        '--report', '--work-dir',
        str(tmp_path), '--out-json',
        str(tmp_path / 'study.json')
    ]) == 0
    assert not json.loads((tmp_path / 'study.json').read_text())['complete']
    fake_result(args, Run('stpp', 0, 'val', '4.0'), 90.1, 130.0)

    chosen = study.validation(args)
    assert chosen['choices'] == {'droppath': '0.1', 'stpp': '2.0'}  # tie
    # 30 x the ratio of the median iteration times, 1.22 and 0.6 s
    assert chosen['equal_compute_epochs'] == 61
    assert chosen['grid']['stpp']['2.0']['chosen']
    assert chosen['grid']['droppath']['0.2']['mean'] == 90.6
    assert chosen['grid']['stpp']['2.0']['iteration_s'] == 1.22

    # test runs: seed 0 reuses the validation trainings (same times here)
    test = {
        Run('baseline', 0, 'test'): (91.0, 60.0),
        Run('baseline', 1, 'test'): (91.4, 60.0),
        Run('droppath', 0, 'test', '0.1'): (91.5, 61.0),
        Run('droppath', 1, 'test', '0.1'): (91.6, 61.0),
        Run('stpp', 0, 'test', '2.0'): (92.0, 122.0),
        Run('stpp', 1, 'test', '2.0'): (91.8, 122.0),
        Run('baseline', 0, 'test', epochs=61): (91.2, 120.0),
    }
    assert study.test_runs(
        args, chosen['choices'],
        61) == list(test) + [Run('baseline', 1, 'test', epochs=61)]
    for run, (top1, seconds) in test.items():
        fake_result(args, run, top1, seconds)
    data = study.report(args)
    assert not data['complete']  # the equal-compute baseline of seed 1
    rows = data['test']
    stpp = rows['ST++ (amplitude 2.0)']
    assert stpp['top1']['mean'] == pytest.approx(91.9)
    assert stpp['top1']['std'] == pytest.approx(0.1414214, abs=1e-6)
    # paired by seed: (92.0 - 91.0, 91.8 - 91.4)
    assert stpp['minus baseline']['mean'] == pytest.approx(0.7)
    assert stpp['minus baseline']['std'] == pytest.approx(0.4242641, abs=1e-6)
    # only seed 0 has an equal-compute baseline
    equal = stpp['minus baseline, equal compute (61 epochs)']
    assert equal['mean'] == pytest.approx(0.8) and equal['seeds'] == ['0']
    assert rows['baseline']['minus baseline'] is None
    assert stpp['train_minutes']['mean'] == pytest.approx(122 / 60)
    assert stpp['mean_subnet_top1_recalibrated']['mean'] == 85.0

    fake_result(args, Run('baseline', 1, 'test', epochs=61), 91.3, 120.0)
    assert CLI.main([
        '--report', '--work-dir',
        str(tmp_path), '--seeds', '0', '1', '--out-json',
        str(tmp_path / 'study.json')
    ]) == 0
    data = json.loads((tmp_path / 'study.json').read_text())
    assert data['complete']
    table = (tmp_path / 'study.md').read_text()
    assert '| ST++ (amplitude 2.0) | 2 | 91.90 ± 0.14 | +0.70' not in table
    assert ('| ST++ (amplitude 2.0) | 2 | 91.90 ± 0.14 | 0.70 ± 0.42 | '
            '0.65 ± 0.21 |') in table
    assert '| ST++ | 2.0 | 90.80 | 2.0 | 1.220 | yes |' in table


def test_test_runs_start_once_their_method_is_chosen(study, tmp_path,
                                                     monkeypatch, capsys):
    """Validation runs start first; a method's test runs start as soon as
    its own validation runs have finished, while another method's still
    runs; a failed run stops only the runs that depend on it."""
    argv = [
        '--work-dir',
        str(tmp_path), '--seeds', '0', '1', '--jobs', '2', '--out-json',
        str(tmp_path / 'study.json')
    ]
    args = parse(argv)
    started, test_started, overlapped = [], threading.Event(), []
    failing = study.Run('droppath', 0, 'val', '0.2')

    runs = {
        run.name: run
        for run in study.validation_runs(args) + [
            run for value in args.amplitudes for run in study.test_runs(
                args, dict(droppath='0.1', stpp=value), 50)
        ]
    }
    for method in ('baseline', 'droppath', 'stpp'):  # configs read here
        accuracy.config_digest(accuracy.config_path(method))

    def fake_launch(job):
        run = runs[job.name]
        started.append(run.name)
        if run.split == 'test':
            test_started.set()
        if run == failing:  # runs until a test run has started, then fails
            overlapped.append(test_started.wait(timeout=30))
            return 1
        amplitude_bonus = float(run.value or 0) if run.method == 'stpp' else 0
        fake_result(args, run, 90.0 + amplitude_bonus,
                    100.0 if run.method == 'stpp' else 60.0)
        return 0

    monkeypatch.setattr(scheduler, 'launch', fake_launch)
    assert CLI.main(argv) == 1
    assert overlapped == [True]
    assert all(name.startswith('val_') for name in started[:7])
    # then the longest first: ST++ (amplitude 4 is best), the equal-compute
    # baseline (30 x 100 / 60 = 50 epochs), the baseline; stochastic depth
    # never, since one of its validation runs failed
    assert sorted(started[7:]) == [
        'test_baseline_50ep_seed0', 'test_baseline_50ep_seed1',
        'test_baseline_seed0', 'test_baseline_seed1', 'test_stpp_4.0_seed0',
        'test_stpp_4.0_seed1'
    ]
    assert started[7:9] == ['test_stpp_4.0_seed0', 'test_stpp_4.0_seed1']
    error = capsys.readouterr().err
    assert f'error: 1 job(s) failed; see their logs: {tmp_path}' in error
    assert study.validation(args, partial=True)['pending'] == ['droppath']
    assert study.validation(args) is None


def test_study_end_to_end_on_tiny_data(study, tmp_path, capsys):
    data_root = tmp_path / 'data'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root), num_train=40, num_test=10)
    argv = [
        '--train-size', '20', '--holdout', '10', '--epochs', '1',
        '--drop-path-rates', '0.1', '--amplitudes', '1.0', '2.0', '--seeds',
        '0', '--recalibration-images', '8', '--jobs', '2', '--num-workers',
        '0', '--data-root',
        str(data_root), '--work-dir',
        str(tmp_path / 'work'), '--out-json',
        str(tmp_path / 'depth_study_r14.json')
    ]
    assert CLI.main(argv) == 0
    output = capsys.readouterr().out
    assert output.count('finished val_') == 4
    assert output.count('finished test_') == 4
    data = json.loads((tmp_path / 'depth_study_r14.json').read_text())
    with open(tmp_path / 'depth_study.png', 'rb') as f:  # the gains plot
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert data['complete']
    # the equal compute from the runs' logged iteration times
    grid = data['validation']['grid']
    assert data['validation']['equal_compute_epochs'] == round(
        1 *
        grid['stpp'][data['validation']['choices']['stpp']]['iteration_s'] /
        grid['baseline']['-']['iteration_s'])
    args = parse(argv)
    chosen = data['validation']['choices']
    for run in study.validation_runs(args) + study.test_runs(
            args, chosen, data['validation']['equal_compute_epochs']):
        result = study.finished_run(args, run)
        row = data['test'].get(study.row_label(run))
        if run.split == 'test':
            assert row['top1_per_seed'] == {'0': result['top1']}
            assert row['mean_subnet_top1']['mean'] == result[
                'mean_subnet_top1']
            assert len(result['subnets']) == 8  # all of ResNet-14
        else:
            entry = data['validation']['grid'][run.method][run.value or '-']
            assert entry['top1_per_seed'] == {'0': result['top1']}
            assert len(result['subnets']) == 1  # the full network only
            assert result['test_images'] == 10  # the held-out images
    # the test runs of the chosen values are the validation trainings
    for method in ('baseline', 'droppath', 'stpp'):
        value = chosen.get(method)
        val = study.finished_run(args, study.Run(method, 0, 'val', value))
        test = study.finished_run(args, study.Run(method, 0, 'test', value))
        assert test['checkpoint'] == val['checkpoint']
        assert test['train_time_s'] == val['train_time_s']

    # the same command again: nothing left to run
    assert CLI.main(argv) == 0
    assert 'started' not in capsys.readouterr().out


def test_gains_by_depth_are_the_reports_paired_differences(study, tmp_path):

    def diff(mean, std):
        return dict(mean=mean, std=std, n=3, seeds=['0', '1', '2'])

    def fake_report(depth, stpp, equal, droppath):
        equal_key = 'minus baseline, equal compute (55 epochs)'
        return dict(
            depth=depth,
            schedule='10000 images x 30 epochs',
            test={
                'baseline': {
                    'method': 'baseline',
                    'minus baseline': None,
                    equal_key: diff(-0.1, 0.1)
                },
                'stochastic depth (drop_path_rate 0.1)': {
                    'method': 'droppath',
                    'minus baseline': droppath,
                    equal_key: diff(0.0, 0.1)
                },
                'ST++ (amplitude 2.0)': {
                    'method': 'stpp',
                    'minus baseline': stpp,
                    equal_key: equal
                },
                'baseline, equal compute (55 epochs)': {
                    'method': 'baseline',
                    'minus baseline': diff(0.1, 0.1)
                },
            })

    reports = [
        fake_report(32, diff(0.5, 0.2), diff(0.4, None), None),
        fake_report(14, diff(-0.1, 0.1), diff(-0.2, 0.3), diff(0.05, 0.02))
    ]
    series = study.gains_by_depth(reports)
    prefix = '10000 images x 30 epochs: '
    assert series[prefix + 'ST++ - baseline'] == [(14, -0.1, 0.1),
                                                  (32, 0.5, 0.2)]
    assert series[prefix + 'ST++ - equal-compute baseline'] == [
        (14, -0.2, 0.3), (32, 0.4, 0.0)
    ]  # one seed: no error bar
    assert series[prefix + 'stochastic depth - baseline'] == [(14, 0.05, 0.02)]
    assert series[prefix + 'equal-compute baseline - baseline'] == [
        (14, 0.1, 0.1), (32, 0.1, 0.1)
    ]
    assert len(series) == 5  # the baseline is the reference, not a series
    plot_gains(series, str(tmp_path / 'gains.png'))
    with open(tmp_path / 'gains.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_a_run_is_finished_only_with_every_setting_of_the_study(
        study, tmp_path):
    """A result recorded with other subnets or an older config digest is
    not reused: the run is relaunched."""
    args = parse([
        '--stage-blocks', '5', '5', '5', '--subnets', '32', '--work-dir',
        str(tmp_path)
    ])
    run = study.Run('stpp', 0, 'test', '2.0')
    fake_result(args, run, 91.0, 100.0)
    path = study.results_path(args, run)
    assert study.finished_run(args, run)['top1'] == 91.0
    for key, stale in (('subnets', 16), ('config_digest', '0123456789abcdef'),
                       ('recalibration_images', 1000)):
        data = json.loads(open(path).read())
        fresh = data['runs']['stpp']['0']['settings'][key]
        data['runs']['stpp']['0']['settings'][key] = stale
        with open(path, 'w') as f:
            json.dump(data, f)
        assert study.finished_run(args, run) is None, key
        assert [j.name for j in [study.job(args, run)]] == [run.name]
        data['runs']['stpp']['0']['settings'][key] = fresh
        with open(path, 'w') as f:
            json.dump(data, f)
    assert study.finished_run(args, run)['top1'] == 91.0


def test_committed_reports_are_their_markdown():
    """The report writer turns the committed JSON into the committed
    markdown."""
    for net in ('r14', 'r32'):
        path = osp.join(accuracy.REPO, 'benchmarks', 'results',
                        f'depth_study_{net}')
        with open(path + '.json') as f:
            data = json.load(f)
        with open(path + '.md') as f:
            assert study_lib.markdown(data) == f.read()
    assert data['design']['test_images'] == 10000


def test_runs_start_costliest_first_by_their_expected_cost(study, tmp_path):
    args = parse(['--work-dir', str(tmp_path)])
    jobs = [
        study.job(args, study.Run(m, 0, 'test', v))
        for m, v in (('baseline', None), ('stpp', '1.0'))
    ]
    assert jobs[0].cost == 30.0
    assert jobs[1].cost == pytest.approx(30 * 1.7912637, rel=1e-6)
    assert study.job(args, study.Run('baseline', 0, 'val')).stage == 0
    assert jobs[0].stage == 1
