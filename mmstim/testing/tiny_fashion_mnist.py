# Copyright (c) mmstim contributors. All rights reserved.
"""A tiny on-disk data set in Fashion-MNIST's idx format, for tests."""
import os.path as osp
import struct

import numpy as np


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
