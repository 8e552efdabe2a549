# Copyright (c) mmstim contributors. All rights reserved.
"""A classifier as an ONNX model, checked with onnxruntime.

Needs the ``deploy`` extra: ``pip install -e .[deploy]``.
"""
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Tuple

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn as nn
from mmpretrain.models.utils import ShiftWindowMSA

from .export import write_checked

#: Largest allowed difference between onnxruntime's and PyTorch's logits.
ONNX_TOLERANCE = 1e-4


class LogitsOf(nn.Module):
    """``classifier(inputs, mode='tensor')`` as a plain module.

    The inputs are the data preprocessor's output (normalised tensors).

    Args:
        classifier (nn.Module): An MMPretrain classifier.
    """

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(inputs, mode='tensor')


def _window_reverse(windows: torch.Tensor, H: int, W: int,
                    window_size: int) -> torch.Tensor:
    batch = windows.shape[0] // ((H // window_size) * (W // window_size))
    x = windows.view(batch, H // window_size, W // window_size, window_size,
                     window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(batch, H, W, -1)


@contextmanager
def exportable_swin() -> Iterator[None]:
    """Swin's window attention with an integer batch size, while exporting.

    MMPretrain 1.2's ``ShiftWindowMSA.window_reverse`` computes the batch
    size as ``int(windows / (H * W / window**2))``, a float division that
    the exporter records for the traced batch only: the ONNX model then
    gives wrong logits at any other batch size. Inside the block the same
    reshaping uses integer division.
    """
    original = ShiftWindowMSA.__dict__['window_reverse']
    ShiftWindowMSA.window_reverse = staticmethod(_window_reverse)
    try:
        yield
    finally:
        ShiftWindowMSA.window_reverse = original


def ort_session(path: str,
                threads: int = 0) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session; ``threads=0`` lets it use all cores."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])


def onnx_parameter_count(path: str) -> int:
    """Number of values in an ONNX model's initializers (its weights)."""
    model = onnx.load(path)
    return int(sum(np.prod(t.dims) for t in model.graph.initializer))


def check_onnx(path: str, model: nn.Module, inputs: torch.Tensor) -> float:
    """Run an ONNX file in onnxruntime and compare with PyTorch.

    Returns:
        float: The largest absolute difference of the logits.

    Raises:
        RuntimeError: It is above :data:`ONNX_TOLERANCE`.
    """
    with torch.no_grad():
        expected = LogitsOf(model).eval()(inputs).numpy()
    (got, ) = ort_session(path).run(None, {'inputs': inputs.numpy()})
    difference = float(np.abs(got - expected).max())
    if not difference <= ONNX_TOLERANCE:
        raise RuntimeError(
            f'The ONNX model {path} differs from PyTorch by {difference:.3g}'
            f' on a batch of {len(inputs)} (tolerance {ONNX_TOLERANCE}).')
    return difference


def export_onnx(model: nn.Module,
                shape: Tuple[int, int, int],
                path: str,
                seed: int = 0) -> dict:
    """Write a classifier's logits as ONNX with a dynamic batch axis.

    The model is traced at batch 2 and checked in onnxruntime at batch 3
    (so the batch axis is really dynamic) against PyTorch; the file is
    moved into place only after the check passed.

    Args:
        model (nn.Module): The classifier (evaluated in eval mode).
        shape (tuple): ``(C, H, W)`` of the preprocessed inputs.
        path (str): The ``.onnx`` file to write.
        seed (int): Seed of the random inputs. Defaults to 0.

    Returns:
        dict: ``path``, ``max_abs_diff``, ``parameters`` (initializer
        values) and ``file_bytes``.
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    example = torch.rand(2, *shape, generator=generator)
    check_inputs = torch.rand(3, *shape, generator=generator)
    result = {}

    def write(tmp):
        with exportable_swin():
            torch.onnx.export(
                LogitsOf(model).eval(), (example, ),
                tmp[0],
                input_names=['inputs'],
                output_names=['logits'],
                dynamic_shapes={'inputs': {
                    0: torch.export.Dim('batch')
                }},
                dynamo=True,
                external_data=False,
                verbose=False)

    def check(tmp):
        result['max_abs_diff'] = check_onnx(tmp[0], model, check_inputs)

    write_checked([path], write, check)
    return dict(result, path=path, parameters=onnx_parameter_count(path),
                file_bytes=osp.getsize(path))
