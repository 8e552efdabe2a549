# Copyright (c) mmstim contributors. All rights reserved.
import copy
import io
import pickle
import subprocess
import sys
import uuid
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner
from torch.utils.data import Dataset

import mmstim  # noqa: F401  (registers SafeCheckpointHook)
from mmstim.engine.hooks import SafeCheckpointHook
from mmstim.utils import (from_weights_only_safe, load_checkpoint_file,
                          register_safe_checkpoint_loader,
                          to_weights_only_safe)

MAX_ITERS = 6
RESUME_ITER = 3
# Globals that MMEngine's own checkpoints pickle and weights_only refuses.
STOCK_UNSAFE = ('builtins.getattr',
                'mmengine.logging.history_buffer.HistoryBuffer')


class ToyClassifier(BaseModel):
    """A two-layer perceptron on 4-d inputs with 3 classes."""

    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, inputs, labels, mode='tensor'):
        logits = self.mlp(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, torch.stack(labels)))
        return logits


class ToyDataset(Dataset):
    """Eight random samples whose metainfo holds a numpy array."""

    def __init__(self):
        generator = torch.Generator().manual_seed(1)
        self.inputs = torch.randn(8, 4, generator=generator)
        self.labels = torch.randint(0, 3, (8, ), generator=generator)

    @property
    def metainfo(self):
        palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                           dtype=np.uint8)
        return dict(classes=('a', 'b', 'c'), palette=palette)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return dict(inputs=self.inputs[index], labels=self.labels[index])


class RecorderHook(Hook):
    """Record what a run saved, and the state it starts training from.

    It also stores numpy objects in the message hub, as evaluation hooks do,
    and stops the run after ``stop_at`` iterations, as an interruption.
    """

    priority = 'NORMAL'

    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.saved = []
        self.start = None
        self.iters = []

    def before_train(self, runner):
        self.start = dict(
            iter=runner.iter,
            message_hub=copy.deepcopy(runner.message_hub.state_dict()),
            optimizer=copy.deepcopy(runner.optim_wrapper.state_dict()))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.iters.append(runner.iter)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        loss = np.float64(outputs['loss'].item())
        curve = runner.message_hub.get_info('toy/curve', np.zeros(0))
        runner.message_hub.update_info('toy/best', loss)
        runner.message_hub.update_info('toy/curve', np.append(curve, loss))
        if runner.iter + 1 == self.stop_at:
            runner.train_loop.stop_training = True

    def before_save_checkpoint(self, runner, checkpoint):
        self.saved.append(copy.deepcopy(checkpoint))


def build_runner(work_dir, stop_at=None, load_from=None, safe=True):
    """Build a runner of MAX_ITERS iterations.

    Args:
        work_dir (Path): The work dir.
        stop_at (int, optional): Stop after this many iterations.
        load_from (Path, optional): Resume from this checkpoint.
        safe (bool): Add SafeCheckpointHook.
    """
    torch.manual_seed(0)
    recorder = RecorderHook(stop_at)
    custom_hooks = [recorder]
    if safe:
        custom_hooks.append(dict(type='SafeCheckpointHook'))
    runner = Runner(
        model=ToyClassifier(),
        work_dir=str(work_dir),
        experiment_name=f'safe_ckpt_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'),
            batch_size=2,
            num_workers=0),
        train_cfg=dict(by_epoch=False, max_iters=MAX_ITERS),
        optim_wrapper=dict(
            optimizer=dict(
                type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)),
        param_scheduler=dict(
            type='MultiStepLR', milestones=[4], gamma=0.1, by_epoch=False),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook', interval=RESUME_ITER, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=custom_hooks,
        load_from=None if load_from is None else str(load_from),
        resume=load_from is not None,
        default_scope='mmpretrain',
        randomness=dict(seed=2024, deterministic=False),
        log_level='WARNING')
    return runner, recorder


def history(state, key):
    """Return the log values, counts and max length of a logged scalar."""
    buffer = state['log_scalars'][key]
    assert type(buffer) is HistoryBuffer
    values, counts = buffer.data
    return values, counts, buffer.max_length


def assert_same_history(state, expected, key):
    values, counts, max_length = history(state, key)
    values_0, counts_0, max_length_0 = history(expected, key)
    assert values.dtype == values_0.dtype
    assert counts.dtype == counts_0.dtype
    np.testing.assert_array_equal(values, values_0)
    np.testing.assert_array_equal(counts, counts_0)
    assert max_length == max_length_0


@pytest.fixture
def isolated_loader(monkeypatch):
    """Restore MMEngine's local loader afterwards."""
    monkeypatch.setattr(CheckpointLoader, '_schemes',
                        CheckpointLoader._schemes.copy())


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """Train MAX_ITERS iterations in one go."""
    runner, recorder = build_runner(tmp_path_factory.mktemp('uninterrupted'))
    runner.train()
    return runner, recorder


@pytest.fixture(scope='module')
def interrupted(tmp_path_factory):
    """Train RESUME_ITER iterations with SafeCheckpointHook, then stop."""
    work_dir = tmp_path_factory.mktemp('interrupted')
    runner, recorder = build_runner(work_dir, stop_at=RESUME_ITER)
    runner.train()
    return work_dir / f'iter_{RESUME_ITER}.pth', runner, recorder


@pytest.fixture(scope='module')
def stock_checkpoint(tmp_path_factory):
    """A checkpoint saved by MMEngine without SafeCheckpointHook."""
    work_dir = tmp_path_factory.mktemp('stock')
    runner, _ = build_runner(work_dir, stop_at=RESUME_ITER, safe=False)
    runner.train()
    return work_dir / f'iter_{RESUME_ITER}.pth'


class Payload:
    """An arbitrary object: unpickling it would run this module's code."""

    def __init__(self, value):
        self.value = value


def test_hook_is_registered():
    from mmpretrain.registry import HOOKS
    hook = HOOKS.build(dict(type='SafeCheckpointHook'))
    assert isinstance(hook, SafeCheckpointHook)
    assert hook.priority == 'LOWEST'


@pytest.mark.parametrize('safe_loader', [False, True])
def test_resume_round_trip(uninterrupted, interrupted, safe_loader,
                           isolated_loader, tmp_path):
    runner_a, recorder_a = uninterrupted
    checkpoint_path, runner_b, recorder_b = interrupted
    if safe_loader:
        register_safe_checkpoint_loader()
        assert CheckpointLoader._get_checkpoint_loader(
            str(checkpoint_path)).__name__ == 'load_from_local_safe'

    resumed, recorder = build_runner(tmp_path, load_from=checkpoint_path)
    resumed.train()

    # It continued from iteration 3 and trained only the missing ones.
    assert recorder.start['iter'] == RESUME_ITER
    assert recorder.iters == list(range(RESUME_ITER, MAX_ITERS))
    assert recorder_a.iters == list(range(MAX_ITERS))

    # The final weights equal those of the uninterrupted run, bit for bit.
    state_a = runner_a.model.state_dict()
    state = resumed.model.state_dict()
    assert list(state) == list(state_a)
    for name in state_a:
        assert torch.equal(state[name], state_a[name]), name

    # The optimizer resumed the saved momentum buffers.
    saved = recorder_b.saved[-1]
    saved_optim = saved['optimizer']['state']
    start_optim = recorder.start['optimizer']['state']
    assert sorted(start_optim) == sorted(saved_optim)
    assert len(saved_optim) == len(list(runner_b.model.parameters()))
    for index, param_state in saved_optim.items():
        buffer = param_state['momentum_buffer']
        assert buffer.abs().sum() > 0
        assert torch.equal(start_optim[index]['momentum_buffer'], buffer)
    on_disk = torch.load(checkpoint_path, weights_only=True)
    for index, param_state in on_disk['optimizer']['state'].items():
        assert torch.equal(start_optim[index]['momentum_buffer'],
                           param_state['momentum_buffer'])
    assert on_disk['param_schedulers'][0]['last_step'] == RESUME_ITER

    # The message hub resumed exactly what was saved.
    saved_hub = saved['message_hub']
    start_hub = recorder.start['message_hub']
    assert set(saved_hub['log_scalars']) == set(start_hub['log_scalars'])
    for key in saved_hub['log_scalars']:
        assert_same_history(start_hub, saved_hub, key)
    losses, counts, _ = history(start_hub, 'train/loss')
    assert len(losses) == RESUME_ITER and counts.tolist() == [1, 1, 1]
    for key in ('toy/best', 'toy/curve', 'dataset_meta'):
        restored = start_hub['runtime_info'][key]
        assert pickle.dumps(restored) == pickle.dumps(
            saved_hub['runtime_info'][key]), key
    assert type(start_hub['runtime_info']['toy/best']) is np.float64
    assert start_hub['resumed_keys'] == saved_hub['resumed_keys']

    # Losses and learning rates of all iterations equal the uninterrupted
    # run's, so the message hub continues as if nothing had happened.
    hub_a = runner_a.message_hub.state_dict()
    hub = resumed.message_hub.state_dict()
    for key in ('train/loss', 'train/lr'):
        assert_same_history(hub, hub_a, key)
    assert len(history(hub, 'train/loss')[0]) == MAX_ITERS


def test_saved_file_loads_weights_only_without_mmstim(interrupted):
    checkpoint_path, runner_b, _ = interrupted
    path = str(checkpoint_path)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []

    code = ('import sys, torch\n'
            'ckpt = torch.load(sys.argv[1], weights_only=True)\n'
            'assert not {"mmstim", "mmengine", "mmpretrain"} & set(\n'
            '    sys.modules)\n'
            'loss = ckpt["message_hub"]["log_scalars"]["train/loss"]\n'
            'print(ckpt["meta"]["iter"], loss["__mmstim_safe__"],\n'
            '      loss["log_history"].tolist())\n')
    result = subprocess.run([sys.executable, '-c', code, path],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    losses = runner_b.message_hub.get_scalar('train/loss').data[0]
    assert result.stdout.strip().split(maxsplit=2) == [
        str(RESUME_ITER), 'HistoryBuffer',
        str(losses.tolist())
    ]


def test_saved_meta_round_trips(interrupted):
    checkpoint_path, runner_b, recorder_b = interrupted
    checkpoint = load_checkpoint_file(checkpoint_path)
    palette = checkpoint['meta']['dataset_meta']['palette']
    assert palette['__mmstim_safe__'] == 'numpy.ndarray'
    restored = from_weights_only_safe(checkpoint)
    dataset_meta = runner_b.train_dataloader.dataset.metainfo
    # Runner.resume compares the pickled dataset meta with the dataset's.
    assert pickle.dumps(restored['meta']['dataset_meta']) == pickle.dumps(
        dataset_meta)
    saved = recorder_b.saved[-1]
    for key in ('epoch', 'iter', 'seed', 'cfg', 'experiment_name'):
        assert restored['meta'][key] == saved['meta'][key]
    # The state dict keeps the module versions that load_state_dict reads.
    metadata = runner_b.model.state_dict()._metadata
    assert checkpoint['state_dict']._metadata == metadata
    assert restored['state_dict']._metadata == metadata


def test_stock_checkpoint_is_refused_unless_trusted(stock_checkpoint):
    path = str(stock_checkpoint)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    assert set(STOCK_UNSAFE) <= set(unsafe)
    assert any(name.startswith('numpy.') for name in unsafe)

    with pytest.raises(RuntimeError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert path in message
    for name in unsafe:
        assert name in message
    assert 'trust=True' in message and '--trust-checkpoint' in message

    checkpoint = load_checkpoint_file(path, trust=True)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)  # the trusted form is safe too
    assert torch.serialization.get_unsafe_globals_in_checkpoint(
        io.BytesIO(buffer.getvalue())) == []
    raw = torch.load(path, weights_only=False)
    restored = from_weights_only_safe(checkpoint)
    assert_same_history(restored['message_hub'], raw['message_hub'],
                        'train/loss')
    for key, value in raw['state_dict'].items():
        assert torch.equal(restored['state_dict'][key], value)


def test_arbitrary_object_is_refused(tmp_path):
    path = tmp_path / 'payload.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'x': Payload(7)}, path)
    name = f'{Payload.__module__}.{Payload.__qualname__}'
    with pytest.raises(RuntimeError, match='could run anything') as info:
        load_checkpoint_file(path)
    assert name in str(info.value) and str(path) in str(info.value)

    checkpoint = load_checkpoint_file(path, trust=True)
    assert checkpoint['x'].value == 7
    assert torch.equal(checkpoint['state_dict']['w'], torch.ones(2))


def broken_files(tmp_path):
    """An empty, a truncated and a text file, with the expected reason."""
    torch.save({'state_dict': {'w': torch.arange(1000.)}}, tmp_path / 'ok')
    data = (tmp_path / 'ok').read_bytes()
    (tmp_path / 'empty.pth').write_bytes(b'')
    (tmp_path / 'truncated.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / 'notes.pth').write_text('epoch 3: top-1 71.2%\n')
    return [(tmp_path / 'empty.pth', 'the file is empty'),
            (tmp_path / 'truncated.pth', 'the file is truncated'),
            (tmp_path / 'notes.pth', 'not a torch checkpoint')]


@pytest.mark.parametrize('trust', [False, True])
def test_broken_files_name_path_and_reason(tmp_path, trust):
    for path, reason in broken_files(tmp_path):
        with pytest.raises(RuntimeError) as info:
            load_checkpoint_file(path, trust=trust)
        assert str(path) in str(info.value)
        assert reason in str(info.value)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_file(tmp_path / 'missing.pth')
    torch.save(torch.ones(2), tmp_path / 'tensor.pth')
    with pytest.raises(RuntimeError, match='holds a Tensor, not a dict'):
        load_checkpoint_file(tmp_path / 'tensor.pth')


def test_safe_loader_refuses_and_trusts(stock_checkpoint, interrupted,
                                        isolated_loader):
    path = str(stock_checkpoint)
    register_safe_checkpoint_loader()
    with pytest.raises(RuntimeError, match='HistoryBuffer'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')

    # A safe file loads with its objects rebuilt.
    checkpoint = CheckpointLoader.load_checkpoint(
        str(interrupted[0]), map_location='cpu')
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer
    assert type(checkpoint['meta']['dataset_meta']['palette']) is np.ndarray

    register_safe_checkpoint_loader(trusted_paths=path)
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    raw = torch.load(path, weights_only=False)
    assert_same_history(checkpoint['message_hub'], raw['message_hub'],
                        'train/loss')

    # Registering again replaces the trusted paths.
    register_safe_checkpoint_loader(trusted_paths=())
    with pytest.raises(RuntimeError, match='HistoryBuffer'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')


def message_hub_state():
    """A message hub state with HistoryBuffers and numpy runtime info."""
    hub = MessageHub.get_instance(f'safe_ckpt_{uuid.uuid4().hex}')
    for step in range(5):
        hub.update_scalar('train/loss', 2.0 / (step + 3), count=2)
        hub.update_scalar('train/lr', 0.1 * 0.5**step)
    hub.update_scalar('val/top1', 87.5, resumed=False)
    hub.log_scalars['train/loss'] = HistoryBuffer(
        *hub.get_scalar('train/loss').data, max_length=10)
    hub.update_info('best_score', np.float64(0.8125))
    hub.update_info('confusion', np.arange(6, dtype=np.int32).reshape(2, 3))
    hub.update_info('columns', np.arange(6, dtype=np.uint16)[::-2])
    hub.update_info('half', np.float16(1.5))
    hub.update_info('flags', (np.bool_(True), [np.uint8(7)]))
    return hub.state_dict()


def test_conversion_round_trip_is_exact():
    state = message_hub_state()
    before = pickle.dumps(state)
    safe = to_weights_only_safe(state)
    assert pickle.dumps(state) == before  # the input is not modified
    buffer = io.BytesIO()
    torch.save(safe, buffer)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(
        io.BytesIO(buffer.getvalue())) == []
    buffer.seek(0)
    restored = from_weights_only_safe(torch.load(buffer, weights_only=True))

    assert type(restored['log_scalars']) is OrderedDict
    assert list(restored['log_scalars']) == list(state['log_scalars'])
    for key in state['log_scalars']:
        assert_same_history(restored, state, key)
    assert history(restored, 'train/loss')[2] == 10
    assert list(restored['runtime_info']) == list(state['runtime_info'])
    for key, value in state['runtime_info'].items():
        assert type(restored['runtime_info'][key]) is type(value), key
        assert pickle.dumps(restored['runtime_info'][key]) == pickle.dumps(
            value), key
    assert restored['resumed_keys'] == state['resumed_keys']
    # Rebuilding what is already rebuilt changes nothing.
    assert pickle.dumps(from_weights_only_safe(restored)) == pickle.dumps(
        restored)

    hub = MessageHub.get_instance(f'safe_ckpt_{uuid.uuid4().hex}')
    hub.load_state_dict(restored)
    loss = hub.get_scalar('train/loss')
    values, counts = state['log_scalars']['train/loss'].data
    assert loss.mean() == values.sum() / counts.sum()
    assert hub.get_info('best_score') == np.float64(0.8125)


def test_hook_converts_and_rebuilds_in_place():
    hook = SafeCheckpointHook()
    weights = torch.arange(3.)
    checkpoint = dict(
        message_hub=message_hub_state(), state_dict={'w': weights})
    hook.before_save_checkpoint(None, checkpoint)
    assert checkpoint['state_dict']['w'] is weights
    loss = checkpoint['message_hub']['log_scalars']['train/loss']
    assert loss['__mmstim_safe__'] == 'HistoryBuffer'
    hook.after_load_checkpoint(None, checkpoint)
    loss = checkpoint['message_hub']['log_scalars']['train/loss']
    assert type(loss) is HistoryBuffer and loss.max_length == 10
