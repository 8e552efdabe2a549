# Copyright (c) mmstim contributors. All rights reserved.
"""Latency figures, and the load check that marks them unreliable."""
import json
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch
from helpers import load_tool, tiny_resnet_cifar
from mmengine.config import Config

from mmstim.deploy import latency
from mmstim.deploy.export import build_classifier


def test_summarize_and_time_calls():
    figures = latency.summarize([0.001, 0.002, 0.003, 0.004, 0.005])
    assert figures == dict(median_ms=pytest.approx(3.0),
                           q1_ms=pytest.approx(2.0), q3_ms=pytest.approx(4.0),
                           min_ms=pytest.approx(1.0),
                           spread=pytest.approx(2 / 3), runs=5)
    calls = []
    times = latency.time_calls(lambda: calls.append(1), runs=7, warmup=3)
    assert len(calls) == 10 and len(times) == 7
    start = time.perf_counter()
    times = latency.time_calls(lambda: None, runs=3, warmup=0,
                               min_seconds=0.2)
    assert len(times) > 3 and time.perf_counter() - start >= 0.2
    with pytest.raises(ValueError, match='runs must be >= 1'):
        latency.time_calls(lambda: None, runs=0, warmup=1)


def test_load_probe_arithmetic(monkeypatch):
    clock = iter([10.0, 12.0])
    values = dict(busy=iter([100.0, 103.0]), own=iter([5.0, 7.0]))
    monkeypatch.setattr(latency, 'time',
                        SimpleNamespace(perf_counter=lambda: next(clock)))
    monkeypatch.setattr(latency, 'busy_cpu_seconds',
                        lambda: next(values['busy']))
    monkeypatch.setattr(latency, 'own_cpu_seconds',
                        lambda: next(values['own']))
    probe = latency.LoadProbe()
    probe.start()
    load = probe.stop()
    # 3 busy CPU seconds in 2 s, 2 of them this process's: 0.5 other cores
    assert load['other_cores'] == pytest.approx(0.5)
    assert load['own_cores'] == pytest.approx(1.0)
    assert not latency.is_reliable(load)
    assert latency.is_reliable(dict(load, other_cores=0.05))
    assert not latency.is_reliable(dict(load, other_cores=None))


def test_a_competing_process_is_seen():
    spinner = subprocess.Popen(
        [sys.executable, '-c', 'while True: pass'])
    try:
        time.sleep(0.3)
        probe = latency.LoadProbe()
        probe.start()
        time.sleep(1.0)
        load = probe.stop()
    finally:
        spinner.kill()
        spinner.wait()
    assert load['other_cores'] > 0.5  # the spinner alone keeps one busy
    assert load['own_cores'] < 0.2
    assert not latency.is_reliable(load)


def tiny_source(tmp_path):
    cfg = Config(dict(
        model=dict(type='ImageClassifier',
                   backbone=tiny_resnet_cifar(in_channels=1),
                   neck=dict(type='GlobalAveragePooling'),
                   head=dict(type='LinearClsHead', num_classes=3,
                             in_channels=16)),
        custom_imports=dict(imports=['mmstim'],
                            allow_failed_imports=False)))
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    torch.manual_seed(0)
    checkpoint = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=build_classifier(cfg).state_dict()),
               checkpoint)
    return config, checkpoint


def test_command_line_report(tmp_path, capsys):
    config, checkpoint = tiny_source(tmp_path)
    out = str(tmp_path / 'latency.json')
    code = load_tool('tools/benchmark/latency.py').main([
        config, checkpoint, '--subnets', '1,1,1', '--out', out,
        '--input-shape', '1', '16', '16', '--batches', '1', '4',
        '--threads', '1', '--runs', '5', '--warmup', '1'])
    with open(out) as f:
        report = json.load(f)
    assert code == (0 if report['reliable'] else 3)
    rows = report['rows']
    assert [(r['model'], r['backend'], r['batch']) for r in rows] == [
        (model, backend, batch) for model in ('full', '1,1,1')
        for backend in ('onnxruntime', 'pytorch') for batch in (1, 4)]
    for row in rows:
        assert row['runs'] >= 5 and row['threads'] == 1
        assert 0 < row['min_ms'] <= row['q1_ms'] <= row['median_ms'] <= \
            row['q3_ms']
        assert row['reliable'] == (row['other_cores'] <= 0.1)
    ratios = {(r['model'], r['backend'], r['batch']): r['ratio']
              for r in report['ratios']}
    assert ratios[('full', 'pytorch', 4)] == 1.0
    printed = capsys.readouterr().out
    assert report['table'] in printed and 'cores, torch' in printed
    marks = report['table'].count('NO: other processes competed')
    assert marks == sum(not r['reliable'] for r in rows)


def test_frontier_takes_the_reports_latency_and_redoes_its_front():
    from mmstim.deploy.latency import frontier_with_latency

    def entry(depths, top1, macs):
        return dict(depths=depths, full=depths == [2, 2], top1=top1,
                    params=macs, macs=macs,
                    latency=[dict(batch_size=1, median_s=9.0)])

    frontier = dict(runs=[dict(label='ST++', subnets=[
        entry([2, 2], 90.0, 4), entry([1, 2], 80.0, 3), entry([2, 1], 85.0,
                                                              3)])])

    def row(model, ms, backend='onnxruntime', threads=1):
        return dict(model=model, backend=backend, batch=1, threads=threads,
                    median_ms=ms)

    report = dict(rows=[row('full', 2.0), row('1,2', 1.0), row('2,1', 2.5),
                        row('full', 7.0, 'pytorch'), row('1,2', 0.1,
                                                         threads=2)])
    runs = frontier_with_latency(frontier, report)
    subnets = runs[0]['subnets']
    assert [e['latency'] for e in subnets] == [
        [dict(batch_size=1, median_s=2e-3)],
        [dict(batch_size=1, median_s=1e-3)],
        [dict(batch_size=1, median_s=2.5e-3)]]
    # 2-1 is slower and less accurate than the full network: off the
    # latency front, though on the MAC front (more accurate than 1-2)
    assert [e['pareto']['latency_b1'] for e in subnets] == [True, True, False]
    assert [e['pareto']['macs'] for e in subnets] == [True, False, True]
    assert frontier['runs'][0]['subnets'][0]['latency'][0]['median_s'] == 9
    report['rows'] = report['rows'][:2]
    with pytest.raises(KeyError, match="2,1: not in the latency report"):
        frontier_with_latency(frontier, report)
