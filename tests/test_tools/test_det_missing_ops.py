# Copyright (c) mmstim contributors. All rights reserved.
"""Detection entry points without mmcv's compiled ops: a clear error.

``sys.modules['mmcv.ops'] = None`` makes ``import mmcv.ops`` fail as it does
with mmcv-lite (whose ``mmcv.ops`` cannot load the missing ``mmcv._ext``).
"""
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO, load_tool
from mmengine.config import Config

from mmstim.utils import env
from mmstim.utils.launch import build_det_runner

CONFIG = 'configs/mmdet/faster-rcnn_r50-stim-in1k-pre_fpn_1x_coco.py'
FIX = ('Add them with `make setup-det` in the mmstim repository: it '
       'compiles mmcv 2.1.0 with its ops once (about 34 minutes on 2 cores')


@pytest.fixture
def mmcv_lite(monkeypatch):
    """An environment with mmcv-lite 2.1.0 instead of mmcv."""
    monkeypatch.setitem(sys.modules, 'mmcv.ops', None)
    monkeypatch.setattr(env, '_installed',
                        lambda name: {'mmcv-lite': '2.1.0'}.get(name))


def test_det_train_command_line_says_what_is_missing():
    script = textwrap.dedent(f"""
        import runpy, sys
        sys.modules['mmcv.ops'] = None
        sys.argv = ['tools/det/train.py', {CONFIG!r}]
        runpy.run_path('tools/det/train.py', run_name='__main__')
    """)
    result = subprocess.run([sys.executable, '-c', script],
                            cwd=REPO,
                            capture_output=True,
                            text=True)
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        f"error: The MMDet config {CONFIG} needs mmcv's compiled ops "
        '(mmcv.ops: NMS, RoIAlign')
    assert FIX in last_line
    assert 'Traceback' not in result.stderr


def test_det_test_stops_before_building_anything(mmcv_lite, tmp_path):
    det_test = load_tool('tools/det/test.py')
    with pytest.raises(env.MissingMmcvOpsError) as error:
        det_test.main(
            [CONFIG, 'missing.pth', '--work-dir',
             str(tmp_path / 'work')])
    message = str(error.value)
    assert message.startswith(f'The MMDet config {CONFIG} needs')
    assert 'this environment has mmcv-lite 2.1.0, which has no compiled ' \
        'ops' in message
    assert FIX in message
    assert not (tmp_path / 'work').exists()


def test_classification_train_tool_refuses_a_detection_config(
        mmcv_lite, capsys):
    code = load_tool('tools/train.py').main([CONFIG])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith(f'error: The MMDet config {CONFIG} needs')
    assert FIX in error


def test_build_det_runner_needs_the_ops(mmcv_lite):
    cfg = Config.fromfile(CONFIG)
    cfg.default_scope = None  # not recognisable as MMDet's by its scope
    with pytest.raises(
            env.MissingMmcvOpsError,
            match=r'^An MMDet runner needs mmcv.s compiled ops'):
        build_det_runner(cfg)


def test_detection_benchmark_stops_before_pretraining(mmcv_lite, tmp_path,
                                                      capsys):
    benchmark = load_tool('tools/benchmark/detection.py')
    work_dir = tmp_path / 'study'
    code = benchmark.main(['--work-dir', str(work_dir)])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith('error: tools/benchmark/detection.py needs '
                            "mmcv's compiled ops")
    assert 'this environment has mmcv-lite 2.1.0' in error
    assert not work_dir.exists()
