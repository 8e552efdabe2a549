# Copyright (c) mmstim contributors. All rights reserved.
"""The detection study end to end on tiny data: pretraining, export,
fine-tuning, the choice on validation, the report, and resume."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
from helpers import write_tiny_fashion_mnist
from mmpretrain.datasets.mnist import read_image_file, read_label_file

from mmstim.analysis.logs import logged_train_scalars
from mmstim.benchmark import run_jobs
from mmstim.benchmark.detection import (BN_SETTINGS, DETECTION_TOOL, REPO,
                                        DetectionStudy, parse_run_name,
                                        run_name)
from mmstim.benchmark.detection_report import write_report
from mmstim.datasets.canvas_detection import write_dataset


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Tiny Fashion-MNIST (60 train, 30 test images) and canvases from it."""
    root = tmp_path_factory.mktemp('data')
    fashion = str(root / 'fashion_mnist')
    os.makedirs(fashion)
    write_tiny_fashion_mnist(fashion)
    images = {s: read_image_file(osp.join(
        fashion, f'{s}-images-idx3-ubyte')).numpy() for s in ('train', 't10k')}
    labels = {s: read_label_file(osp.join(
        fashion, f'{s}-labels-idx1-ubyte')).numpy() for s in ('train', 't10k')}
    canvases = str(root / 'canvases')
    write_dataset(canvases, images['train'], labels['train'], images['t10k'],
                  labels['t10k'], dict(train=16, val=4, test=4),
                  val_items=20)
    return fashion, canvases


def tiny_study(work_dir: str, data, **kwargs) -> DetectionStudy:
    fashion, canvases = data
    settings = dict(work_dir=work_dir, fashion_mnist=fashion,
                    det_root=canvases, sources=['baseline', 'stpp_111'],
                    seeds=[0], pretrain_epochs=1, pretrain_images=40,
                    holdout=20, det_epochs=1, recalibration_images=0,
                    num_workers=0)
    return DetectionStudy(**dict(settings, **kwargs))


def test_run_names_round_trip_and_bad_ones_are_clear_errors():
    assert parse_run_name(run_name('stpp_111', 'frozen', 2)) == dict(
        source='stpp_111', bn='frozen', seed=2)
    with pytest.raises(ValueError, match="'stpp_111_cold_seed2' is not"):
        parse_run_name('stpp_111_cold_seed2')
    with pytest.raises(ValueError, match=r"unknown backbone sources \['r50'"):
        DetectionStudy(sources=['baseline', 'r50'])
    with pytest.raises(ValueError, match='must include baseline'):
        DetectionStudy(sources=['stpp'])


def test_the_study_end_to_end(tmp_path, data):
    study = tiny_study(str(tmp_path / 'study'), data)
    plan = study.plan()
    assert plan[0].startswith('pretrain_baseline_seed0: ready')
    assert 'finetune_stpp_111_<choice>_seed0: waiting' in ' '.join(plan)
    lines = []
    run_jobs(study.jobs, jobs=2, echo=lines.append)
    started = [line.split()[1] for line in lines if line.startswith('started')]
    assert started[:2] == ['pretrain_stpp_seed0', 'pretrain_baseline_seed0']
    assert set(started[2:]) == {
        'export_stpp_111_seed0', 'finetune_baseline_frozen_seed0',
        'finetune_baseline_trainable_seed0',
        f'finetune_stpp_111_{study.bn_choice()}_seed0'}
    # the choice: the BN setting with the higher val mAP of the baseline
    val = {bn: study.finished(run_name('baseline', bn, 0))['val']['bbox_mAP']
           for bn in BN_SETTINGS}
    assert study.bn_choice() == max(BN_SETTINGS, key=lambda bn: val[bn])
    # test numbers only for the chosen settings
    for run in study.runs():
        record = json.load(open(study.record_path(run['name'])))
        assert ('test' in record) == (run['bn'] == study.bn_choice())
    assert study.jobs() == []
    assert all(': done' in line for line in study.plan()[:-1])

    summary = write_report(study, str(tmp_path / 'report.json'))
    chosen = run_name('baseline', study.bn_choice(), 0)
    baseline = summary['sources']['baseline']
    assert baseline['bbox_mAP']['mean'] == study.finished(
        chosen)['test']['bbox_mAP']
    assert summary['sources']['stpp_111']['map_minus_baseline']['mean'] == (
        study.finished(run_name('stpp_111', study.bn_choice(), 0))['test']
        ['bbox_mAP'] - baseline['bbox_mAP']['mean'])
    assert summary['sources']['stpp_111']['backbone_macs'] < \
        0.6 * baseline['backbone_macs']
    markdown = open(tmp_path / 'report.md').read()
    assert f'**{study.bn_choice()}**' in markdown
    assert '| ST++, 1-1-1 subnet | 0 |' in markdown
    assert osp.getsize(tmp_path / 'report.png') > 0
    # a changed setting makes the records stale
    assert tiny_study(str(tmp_path / 'study'), data, det_epochs=2).finished(
        chosen) is None


def test_an_interrupted_fine_tuning_resumes(tmp_path, data):
    fashion, canvases = data
    study = tiny_study(str(tmp_path / 'study'), data, det_epochs=3,
                       sources=['baseline', 'scratch'])
    run = 'scratch_trainable_seed0'
    command = [sys.executable, DETECTION_TOOL, '--run', run,
               *study.command_options()]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    # MMEngine names the checkpoint to resume from in last_checkpoint once
    # it is saved whole
    last = osp.join(study.finetune_dir(run), 'last_checkpoint')
    while not osp.isfile(last) and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not osp.isfile(study.record_path(run))
    assert not osp.isfile(osp.join(study.finetune_dir(run), 'epoch_3.pth'))

    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    record = study.finished(run, test=True)
    assert set(record['val']) == set(record['test']) >= {'bbox_mAP'}
    steps = logged_train_scalars(study.finetune_dir(run))
    # 2 iterations per epoch, logged at each epoch's end
    assert sorted(steps) == [2, 4, 6]
    # the second part started after the first epoch, not from scratch
    parts = sorted(os.listdir(study.finetune_dir(run)))
    assert len([p for p in parts if p[:8].isdigit()]) == 2
    with open(osp.join(study.finetune_dir(run), [
            p for p in parts if p[:8].isdigit()][-1], 'vis_data',
                       'scalars.json')) as f:
        resumed = [json.loads(line)['step'] for line in f
                   if '"lr"' in line]
    assert resumed[0] > 2
    # a finished run is not run again
    assert run not in [job.name for job in study.jobs()]


def test_report_signs_differences_and_marks_absent_sizes():
    from mmstim.benchmark.detection import METRICS
    from mmstim.benchmark.detection_report import markdown_report
    metrics = {m: dict(mean=0.5, std=0.01) for m in METRICS}
    metrics['bbox_mAP_l'] = dict(mean=-1.0, std=0.0)  # no large objects
    summary = dict(
        bn_choice='trainable',
        validation_map={'baseline_trainable_seed0': dict(bbox_mAP=0.554)},
        sources=dict(stpp=dict(
            name='ST++', seeds=[0, 1], backbone_macs=237.3e6, **metrics,
            map_minus_baseline=dict(mean=-0.009, std=0.002))),
        pretraining={})
    markdown = markdown_report(summary)
    assert '| baseline_trainable_seed0 | 55.4 |' in markdown
    assert ('| ST++ | 0,1 | 237.3 | 50.0 ± 1.0 | -0.9 ± 0.2 | 50.0 ± 1.0 | '
            '50.0 ± 1.0 | 50.0 ± 1.0 | 50.0 ± 1.0 | n/a |') in markdown
