# Copyright (c) mmstim contributors. All rights reserved.
"""Exporting a subnet (mmstim.deploy and its command line): exact, plain
and refusing."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers import (load_tool, tiny_data_options, top1_accuracy,
                     write_tiny_fashion_mnist)
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS

import mmstim  # noqa: F401
from mmstim.deploy import export_subnet, parse_subnet
from mmstim.engine import recalibrated_bn
from mmstim.models.subnets import find_residual_stages, run_as_subnet

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STPP = osp.join(REPO, 'configs', 'fashion_mnist',
                'resnet14_stpp_fashion-mnist.py')
MASK = '101,1011,110101'  # kept depths 2, 3, 4 of (3, 4, 6); not prefixes


def export_tool():
    return load_tool('tools/model_converters/export_subnet.py')


def build(cfg):
    return MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.get('data_preprocessor')))


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """An ST++ ResNet_CIFAR of stages (3, 4, 6) on tiny on-disk data, with
    weights and BN statistics that are not the initial ones."""
    root = tmp_path_factory.mktemp('export')
    data_root = str(root / 'data')
    os.makedirs(data_root)
    write_tiny_fashion_mnist(data_root, num_train=40, num_test=20)
    config = str(root / 'source.py')
    options = tiny_data_options(data_root, batch_size=8)
    with open(config, 'w') as f:
        f.write(f'_base_ = [{STPP!r}]\n'
                'model = dict(backbone=dict(depth=34, base_channels=4, '
                'stem_channels=4), head=dict(in_channels=16))\n')
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    cfg.dump(config)
    torch.manual_seed(0)
    model = build(cfg)
    model.init_weights()
    for name, buffer in model.named_buffers():
        if 'running' in name:
            buffer.copy_(torch.rand_like(buffer) + 0.5)
    checkpoint = str(root / 'source.pth')
    torch.save(dict(meta=dict(dataset_meta=dict(classes=list('abcde'))),
                    state_dict=model.state_dict()), checkpoint)
    return dict(root=root, config=config, checkpoint=checkpoint, cfg=cfg)


@pytest.mark.parametrize('subnet, images', [(MASK, 16), ('1,2,6', 0)])
def test_exported_logits_equal_the_subnet(source, tmp_path, subnet, images):
    config, checkpoint = export_subnet(
        source['config'], source['checkpoint'], subnet, str(tmp_path),
        recalibration_images=images, seed=3)
    exported_cfg = Config.fromfile(config)
    assert exported_cfg.model.type == 'ImageClassifier'
    assert 'SubnetSamplingHook' not in str(exported_cfg.custom_hooks)
    saved = torch.load(checkpoint, weights_only=True)
    exported = build(exported_cfg)
    plain = ImageClassifier(backbone=exported_cfg.model.backbone,
                            neck=exported_cfg.model.neck,
                            head=exported_cfg.model.head)
    assert list(saved['state_dict']) == list(plain.state_dict())
    exported.load_state_dict(saved['state_dict'], strict=True)
    full = build(source['cfg'])
    full.load_state_dict(
        torch.load(source['checkpoint'], weights_only=True)['state_dict'])
    # fewer parameters: the dropped blocks are gone
    count = sum(p.numel() for p in exported.parameters())
    assert count < sum(p.numel() for p in full.parameters())
    inputs = torch.rand(6, 1, 28, 28)
    exported.eval()
    full.eval()
    stages = find_residual_stages(full.backbone)
    spec = parse_subnet(subnet, (3, 4, 6))
    with run_as_subnet(stages, spec):
        if images:
            loader = Runner.build_dataloader(
                source['cfg'].train_dataloader, seed=3)
            with recalibrated_bn(full, loader, images):
                expected = full(inputs)
        else:
            expected = full(inputs)
    got = exported(inputs)
    assert (got - expected).abs().max() <= 1e-5
    assert saved['meta']['subnet']['depths'] == (
        [2, 3, 4] if subnet == MASK else [1, 2, 6])
    assert saved['meta']['dataset_meta'] == dict(classes=list('abcde'))


def test_exported_config_runs_with_test_tools_and_apis(source, tmp_path):
    config, checkpoint = export_subnet(
        source['config'], source['checkpoint'], MASK, str(tmp_path), 16)
    exported = build(Config.fromfile(config))
    exported.load_state_dict(
        torch.load(checkpoint, weights_only=True)['state_dict'])
    loader = Runner.build_dataloader(
        dict(source['cfg'].test_dataloader, num_workers=0,
             persistent_workers=False))
    expected = top1_accuracy(exported, loader)
    out = str(tmp_path / 'metrics.json')
    result = subprocess.run(
        [sys.executable, 'tools/test.py', config, checkpoint, '--out', out,
         '--work-dir', str(tmp_path / 'test')],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out) as f:
        assert json.load(f)['metrics']['accuracy/top1'] == pytest.approx(
            expected, abs=1e-4)
    from mmpretrain.apis import get_model
    model = get_model(config, pretrained=checkpoint)
    inputs = torch.rand(2, 1, 28, 28)
    exported.eval()
    assert torch.allclose(model(inputs), exported(inputs), atol=1e-6)


@pytest.mark.parametrize('subnet, message', [
    ('2,3', 'names 2 stages'),
    ('3,5,6', 'stage 1 keeps 5 blocks; allowed 1 to 4'),
    ('011,1111,111111', 'block 0 of stage 0 cannot be dropped'),
    ('a,b,c', 'kept depth per stage'),
])
def test_bad_subnets_write_nothing(source, tmp_path, subnet, message):
    out_dir = str(tmp_path / 'out')
    code = export_tool().main([source['config'], source['checkpoint'],
                               '--subnet', subnet, '--out-dir', out_dir])
    assert code == 2
    assert not osp.exists(out_dir)


def test_refusals_name_the_problem(source, tmp_path, capsys):
    tool = export_tool()
    with pytest.raises(ValueError, match='stage 1 keeps 5 blocks'):
        export_subnet(source['config'], source['checkpoint'], '3,5,6',
                      str(tmp_path))
    # a checkpoint of another network
    other = str(tmp_path / 'other.pth')
    state = torch.load(source['checkpoint'], weights_only=True)
    state['state_dict'].pop('head.fc.bias')
    torch.save(state, other)
    with pytest.raises(RuntimeError,
                       match=r'(?s)other\.pth.*head\.fc\.bias'):
        export_subnet(source['config'], other, '1,1,1', str(tmp_path))
    assert os.listdir(tmp_path) == ['other.pth']
    # an existing export is kept unless --force
    paths = export_subnet(source['config'], source['checkpoint'], '1,1,1',
                          str(tmp_path), 0)
    before = [os.path.getmtime(p) for p in paths]
    assert tool.main([source['config'], source['checkpoint'], '--subnet',
                      '1,1,1', '--out-dir', str(tmp_path)]) == 2
    assert 'pass --force' in capsys.readouterr().err
    assert [os.path.getmtime(p) for p in paths] == before
    assert tool.main([source['config'], source['checkpoint'], '--subnet',
                      '1,1,1', '--out-dir', str(tmp_path), '--force',
                      '--recalibration-images', '0']) == 0


def test_command_line_writes_checked_onnx_of_subnet_and_full(source, tmp_path,
                                                             capsys):
    from mmstim.deploy.onnx_export import ort_session
    tool = export_tool()
    out = str(tmp_path / 'out')
    for extra in (['--subnet', '1,1,1'], []):
        assert tool.main([source['config'], source['checkpoint'],
                          '--out-dir', out, '--onnx',
                          '--recalibration-images', '0',
                          '--input-shape', '1', '28', '28'] + extra) == 0
    assert 'onnxruntime matches PyTorch' in capsys.readouterr().out
    names = sorted(os.listdir(out))
    assert names == ['source_full.onnx', 'source_full.pth', 'source_full.py',
                     'source_subnet-1-1-1.onnx', 'source_subnet-1-1-1.pth',
                     'source_subnet-1-1-1.py']
    inputs = torch.rand(4, 1, 28, 28)
    for stem in ('source_full', 'source_subnet-1-1-1'):
        from mmpretrain.apis import get_model
        model = get_model(osp.join(out, stem + '.py'),
                          pretrained=osp.join(out, stem + '.pth'))
        model.eval()
        (got, ) = ort_session(osp.join(out, stem + '.onnx')).run(
            None, {'inputs': inputs.numpy()})
        with torch.no_grad():
            assert abs(got - model(inputs).numpy()).max() <= 1e-4
    sizes = {stem: osp.getsize(osp.join(out, stem + '.onnx'))
             for stem in ('source_full', 'source_subnet-1-1-1')}
    assert sizes['source_subnet-1-1-1'] < 0.5 * sizes['source_full']


def test_unsupported_backbone_is_refused_before_writing(source, tmp_path):
    from mmpretrain.models.backbones import ResNet_CIFAR

    @MODELS.register_module(force=True)
    class MyResNetCIFAR(ResNet_CIFAR):
        pass

    config = str(tmp_path / 'mine.py')
    cfg = Config.fromfile(source['config'])
    cfg.model.backbone.type = 'MyResNetCIFAR'
    cfg.dump(config)
    out_dir = str(tmp_path / 'out')
    with pytest.raises(ValueError,
                       match='MyResNetCIFAR is not supported; exportable '
                       'backbones: AnyDepthMobileNetV2'):
        export_subnet(config, source['checkpoint'], '1,1,1', out_dir, 0)
    assert not osp.exists(out_dir)
