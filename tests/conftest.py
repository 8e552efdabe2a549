# Copyright (c) mmstim contributors. All rights reserved.
import pytest
import torch
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
