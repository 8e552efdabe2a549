# Copyright (c) mmstim contributors. All rights reserved.
import sys

import pytest
from helpers import load_tool

from mmstim.utils import env


@pytest.fixture
def mmcv_lite(monkeypatch):
    """An environment with mmcv-lite 2.1.0 instead of mmcv."""
    monkeypatch.setitem(sys.modules, 'mmcv.ops', None)
    versions = {'mmcv-lite': '2.1.0', 'mmdet': '3.3.0'}
    monkeypatch.setattr(env, '_installed', versions.get)


def test_mmcv_lite_passes_for_classification(mmcv_lite, capsys):
    assert load_tool('tools/check_env.py').main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert '  mmcv         -' in out
    assert '  mmcv-lite    2.1.0' in out
    assert out[-1] == (
        '  environment OK for classification: mmpretrain and mmdet import; '
        "mmcv's compiled ops are missing, which detection needs "
        '(`make setup-det` adds them, 34 minutes on 2 cores)')


def test_mmcv_lite_fails_when_ops_are_required(mmcv_lite, capsys):
    assert load_tool('tools/check_env.py').main(['--require-ops']) == 1
    err = capsys.readouterr().err
    assert err.startswith('environment check failed: Detection with MMDet '
                          "needs mmcv's compiled ops")
    assert 'mmcv-lite 2.1.0, which has no compiled ops' in err


def test_this_environment_has_the_ops(capsys):
    assert load_tool('tools/check_env.py').main(['--require-ops']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == ('  environment OK: mmcv ops load, mmpretrain and '
                       'mmdet import')
