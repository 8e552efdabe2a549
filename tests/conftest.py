# Copyright (c) mmstim contributors. All rights reserved.
import os.path as osp

import pytest
import torch
from helpers import FASHION_CONFIGS, train_tiny, write_tiny_fashion_mnist
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def mmpretrain_default_scope():
    """Run every test in MMPretrain's scope and drop the scopes it set.

    A Runner built from an MMDet config makes ``mmdet`` the process's default
    scope; without this, later tests would build MMPretrain models there.
    """
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture(scope='module')
def one_torch_thread():
    """Tiny batches run fastest on one thread, also on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    """Tiny data on disk and two checkpoints: ST and a plain baseline."""
    root = tmp_path_factory.mktemp('analysis')
    data_root = str(root / 'fashion_mnist')
    (root / 'fashion_mnist').mkdir()
    write_tiny_fashion_mnist(data_root)
    return dict(
        root=root,
        data_root=data_root,
        st=train_tiny(
            osp.join(FASHION_CONFIGS, 'resnet14_st_fashion-mnist.py'),
            str(root / 'st'), data_root),
        baseline=train_tiny(
            osp.join(FASHION_CONFIGS, 'resnet14_baseline_fashion-mnist.py'),
            str(root / 'baseline'), data_root))
