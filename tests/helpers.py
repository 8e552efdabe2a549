# Copyright (c) mmstim contributors. All rights reserved.
"""Small models, batches, runners and data sets shared by the tests."""
import importlib.util
import os.path as osp
import struct
import uuid
from types import ModuleType
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.models import ClsDataPreprocessor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmstim.models import StimulativeClassifier
from mmstim.utils.checkpoint import load_weights

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FASHION_CONFIGS = osp.join(REPO, 'configs', 'fashion_mnist')


def load_tool(relative_path: str) -> ModuleType:
    """Import a script of the repository (e.g. ``tools/demo.py``)."""
    path = osp.join(REPO, relative_path)
    name = 'tool_' + osp.splitext(relative_path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CastingPreprocessor(ClsDataPreprocessor):
    """ClsDataPreprocessor whose output inputs have a chosen dtype."""

    def __init__(self, dtype: torch.dtype = torch.float64, **kwargs):
        super().__init__(**kwargs)
        self.dtype = dtype

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        data['inputs'] = data['inputs'].to(self.dtype)
        return data


def tiny_resnet_cifar(num_stages: int = 3,
                      depth: int = 34,
                      base_channels: int = 4,
                      in_channels: int = 3) -> dict:
    """Config of a very small ResNet_CIFAR (depth 34, 3 stages: 3-4-6)."""
    return dict(
        type='ResNet_CIFAR',
        depth=depth,
        in_channels=in_channels,
        stem_channels=base_channels,
        base_channels=base_channels,
        num_stages=num_stages,
        strides=(1, 2, 2, 2)[:num_stages],
        dilations=(1, ) * num_stages,
        out_indices=(num_stages - 1, ),
        zero_init_residual=False)


def tiny_classifier(num_classes: int = 5,
                    base_channels: int = 4,
                    num_stages: int = 3,
                    normalize: Optional[str] = 'layernorm',
                    normalize_main_logits: bool = True,
                    min_scale: Optional[float] = 0.5,
                    dtype: torch.dtype = torch.float32,
                    seed: int = 0,
                    **kwargs) -> StimulativeClassifier:
    """A StimulativeClassifier with a tiny ResNet_CIFAR backbone."""
    torch.manual_seed(seed)
    channels = base_channels * 2**(num_stages - 1)
    model = StimulativeClassifier(
        backbone=tiny_resnet_cifar(num_stages, base_channels=base_channels),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=channels,
            loss=dict(type='CrossEntropyLoss')),
        distill_loss=dict(type='KLDirectionLoss', normalize=normalize),
        subnet_resize=(dict(type='RandomSubnetResize', min_scale=min_scale)
                       if min_scale is not None else None),
        normalize_main_logits=normalize_main_logits,
        data_preprocessor=CastingPreprocessor(dtype),
        **kwargs)
    model.init_weights()
    return model.to(dtype)


@torch.no_grad()
def top1_accuracy(model: torch.nn.Module, loader) -> float:
    """Top-1 (%) from the logits, without MMPretrain's metric."""
    model.eval()
    correct = total = 0
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        labels = torch.cat([s.gt_label for s in data['data_samples']])
        correct += int((model(data['inputs']).argmax(1) == labels).sum())
        total += len(labels)
    return 100.0 * correct / total


def fake_batch(batch_size: int = 4,
               size: int = 16,
               num_classes: int = 5,
               channels: int = 3,
               seed: int = 0,
               labels: Optional[Sequence[int]] = None) -> dict:
    """A batch as a data loader yields it: uint8 images and DataSamples."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randint(
        0, 256, (batch_size, channels, size, size), generator=generator,
        dtype=torch.uint8)
    if labels is None:
        labels = torch.randint(0, num_classes, (batch_size, ),
                               generator=generator).tolist()
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    return dict(inputs=list(inputs), data_samples=samples)


class TinyImageDataset(torch.utils.data.Dataset):
    """In-memory images with learnable labels, shaped like packed inputs.

    Each class has its own mean brightness pattern, so a few iterations of
    training lower the loss.

    Args:
        num_samples (int): Number of images. Defaults to 8.
        size (int): Image side. Defaults to 16.
        num_classes (int): Number of classes. Defaults to 5.
        channels (int): Image channels. Defaults to 3.
        seed (int): Seed of the pixels. Defaults to 0.
    """

    def __init__(self,
                 num_samples: int = 8,
                 size: int = 16,
                 num_classes: int = 5,
                 channels: int = 3,
                 seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.labels = [i % num_classes for i in range(num_samples)]
        patterns = torch.rand((num_classes, channels, size, size),
                              generator=generator)
        noise = torch.rand((num_samples, channels, size, size),
                           generator=generator)
        images = 0.7 * patterns[self.labels] + 0.3 * noise
        self.images = (images * 255).to(torch.uint8)
        self.metainfo = dict(classes=[str(c) for c in range(num_classes)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return dict(
            inputs=self.images[index],
            data_samples=DataSample().set_gt_label(self.labels[index]))


def tiny_runner_kwargs(work_dir: str,
                       max_iters: int = 6,
                       num_subnets: int = 2,
                       rule='default',
                       batch_size: int = 4,
                       num_samples: int = 8,
                       checkpoint_interval: int = 3,
                       lr: float = 0.05,
                       seed: int = 0,
                       hook_kwargs: Optional[dict] = None) -> dict:
    """Keyword arguments of an MMEngine Runner for a tiny ST++ run.

    The model is :func:`tiny_classifier`'s network as a config, data is a
    :class:`TinyImageDataset`, the loop is iteration based and the subnet
    sampling hook and the safe checkpoint hook are enabled.
    """
    model = dict(
        type='StimulativeClassifier',
        backbone=tiny_resnet_cifar(),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=5,
            in_channels=16,
            loss=dict(type='CrossEntropyLoss')),
        distill_loss=dict(type='KLDirectionLoss', normalize='layernorm'),
        subnet_resize=dict(type='RandomSubnetResize', min_scale=0.5),
        normalize_main_logits=True,
        data_preprocessor=dict(type='ClsDataPreprocessor'))
    hooks = [
        dict(type='SubnetSamplingHook', rule=rule, num_subnets=num_subnets,
             **(hook_kwargs or {})),
        dict(type='SafeCheckpointHook'),
    ]
    return dict(
        model=model,
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=TinyImageDataset(num_samples=num_samples),
            # an infinite sampler: no data loader restarts (MMEngine waits
            # two seconds at each) in iteration-based loops
            sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='pseudo_collate'),
            batch_size=batch_size,
            num_workers=0),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=lr, momentum=0.9)),
        custom_hooks=hooks,
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(
                type='CheckpointHook', interval=checkpoint_interval,
                by_epoch=False)),
        randomness=dict(seed=seed),
        # message hubs and loggers are per experiment name: keep runs apart
        experiment_name=f'tiny_{uuid.uuid4().hex[:12]}',
        default_scope='mmpretrain',
        log_level='WARNING')


def write_idx(path: str, array: np.ndarray, magic: int) -> None:
    """Write an idx file of unsigned bytes (the format Fashion-MNIST uses)."""
    with open(path, 'wb') as f:
        f.write(struct.pack('>I', magic))
        for dim in array.shape:
            f.write(struct.pack('>I', dim))
        f.write(array.astype(np.uint8).tobytes())


def stripes(period: int, vertical: bool = False,
            checker: bool = False) -> np.ndarray:
    """A 28x28 pattern of stripes (or squares) ``period`` pixels wide."""
    rows, cols = np.mgrid[:28, :28] // period
    if checker:
        return (rows + cols) % 2
    return (cols if vertical else rows) % 2


#: Textures survive the random crop and flip of the training pipeline.
TEXTURES = np.stack([
    stripes(1), stripes(1, vertical=True), stripes(1, checker=True),
    stripes(3), stripes(3, vertical=True)
])


def write_tiny_fashion_mnist(root: str,
                             num_train: int = 60,
                             num_test: int = 30,
                             seed: int = 0) -> None:
    """A few dozen 28x28 images per split: 5 classes of noisy textures.

    Args:
        root (str): An existing folder; the four idx files go there.
        num_train (int): Training images. Defaults to 60.
        num_test (int): Test images. Defaults to 30.
        seed (int): Seed of the noise. Defaults to 0.
    """
    rng = np.random.default_rng(seed)
    for split, count in (('train', num_train), ('t10k', num_test)):
        labels = np.arange(count) % len(TEXTURES)
        noise = rng.integers(0, 256, (count, 28, 28))
        images = 0.6 * 255 * TEXTURES[labels] + 0.4 * noise
        write_idx(osp.join(root, f'{split}-images-idx3-ubyte'), images, 2051)
        write_idx(osp.join(root, f'{split}-labels-idx1-ubyte'), labels, 2049)


def tiny_data_options(data_root: str, batch_size: int = 16) -> dict:
    """``--cfg-options`` for the fashion_mnist configs on the tiny data."""
    options = {}
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{key}.dataset.data_root'] = data_root
        options[f'{key}.num_workers'] = 0
        options[f'{key}.batch_size'] = batch_size
    return options


def load_classifier(config, checkpoint, data_root):
    """A trained classifier and its test and train loaders, by hand."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(tiny_data_options(data_root))
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    load_weights(model, checkpoint)
    loaders = [Runner.build_dataloader(dict(cfg[key], num_workers=0,
                                            persistent_workers=False), seed=0)
               for key in ('test_dataloader', 'train_dataloader')]
    return model.eval(), *loaders


def train_tiny(config, work_dir, data_root, epochs=3):
    """Train a config for a few epochs on the tiny data; return the ckpt."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(tiny_data_options(data_root))
    cfg.work_dir = work_dir
    cfg.experiment_name = f'tiny_{uuid.uuid4().hex[:8]}'
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.param_scheduler.T_max = epochs
    cfg.default_hooks.checkpoint.interval = epochs
    cfg.log_level = 'WARNING'
    Runner.from_cfg(cfg).train()
    return osp.join(work_dir, f'epoch_{epochs}.pth')
