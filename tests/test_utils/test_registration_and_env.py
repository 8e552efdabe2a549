# Copyright (c) mmstim contributors. All rights reserved.
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from mmstim.utils import env


def test_import_registers_components():
    """In a fresh interpreter: absent before ``import mmstim``, present after.
    """
    script = textwrap.dedent("""
        from mmengine.registry import MODEL_WRAPPERS, WEIGHT_INITIALIZERS
        from mmpretrain.registry import HOOKS, LOOPS, MODELS
        names = [(MODELS, 'StimulativeClassifier'),
                 (MODELS, 'KLDirectionLoss'),
                 (MODELS, 'RandomSubnetResize'),
                 (HOOKS, 'SubnetSamplingHook'),
                 (HOOKS, 'SafeCheckpointHook'),
                 (LOOPS, 'SubnetTestLoop'),
                 (MODEL_WRAPPERS, 'StimulativeDDP'),
                 (WEIGHT_INITIALIZERS, 'StrictPretrained')]
        print([name in registry.module_dict for registry, name in names])
        import mmstim
        print([registry.module_dict[name].__module__.split('.')[0]
               for registry, name in names])
    """)
    result = subprocess.run([sys.executable, '-c', script],
                            capture_output=True,
                            text=True,
                            check=True)
    before, after = result.stdout.strip().splitlines()[-2:]
    assert before == str([False] * 8)
    assert after == str(['mmstim'] * 8)


def fake_versions(monkeypatch, versions):
    monkeypatch.setattr(env, '_installed', lambda name: versions.get(name))


def test_mmcv_lite_serves_classification_only(monkeypatch):
    fake_versions(monkeypatch, {'mmcv-lite': '2.1.0'})
    monkeypatch.setitem(sys.modules, 'mmcv.ops', None)  # as in mmcv-lite
    assert env.check_mmcv(require_ops=False) == '2.1.0'
    assert env.mmcv_ops_available() is False
    with pytest.raises(env.MissingMmcvOpsError) as error:
        env.check_mmcv(require_ops=True)
    message = str(error.value)
    assert 'this environment has mmcv-lite 2.1.0, which has no compiled ' \
        'ops' in message
    assert '`make setup-det`' in message
    assert 'about 34 minutes on 2 cores' in message


def test_no_mmcv_is_refused_with_fix(monkeypatch):
    fake_versions(monkeypatch, {})
    with pytest.raises(RuntimeError) as error:
        env.check_mmcv(require_ops=False)
    message = str(error.value)
    assert message.startswith('Found no mmcv. Run `make setup`')
    assert 'pip install mmcv-lite==2.1.0' in message


def test_full_mmcv_without_loading_ops_is_named(monkeypatch):
    fake_versions(monkeypatch, {'mmcv': '2.1.0'})
    monkeypatch.setitem(sys.modules, 'mmcv.ops', None)
    with pytest.raises(
            env.MissingMmcvOpsError,
            match=r'^tools/det/train\.py needs mmcv.s compiled '
            r'ops .*this environment has mmcv 2\.1\.0, whose '
            r'compiled ops do not load'):
        env.require_mmcv_ops('tools/det/train.py')


def test_too_new_mmcv_is_refused(monkeypatch):
    fake_versions(monkeypatch, {'mmcv': '2.2.0'})
    with pytest.raises(RuntimeError, match=r'Found mmcv 2\.2\.0.*<2\.2\.0'):
        env.check_mmcv()


def test_installed_mmcv_ops_compute():
    assert env.check_mmcv(require_ops=True) == metadata.version('mmcv')
    import torch
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]  # box 1 overlaps box 0 with IoU 0.68
