# Copyright (c) mmstim contributors. All rights reserved.
from typing import Dict, Union

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_reduce_params
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import MODEL_WRAPPERS
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


@MODEL_WRAPPERS.register_module()
class StimulativeDDP(MMDistributedDataParallel):
    """Distributed wrapper that runs the model's own stimulative train step.

    MMEngine's ``MMDistributedDataParallel`` never calls the model's
    ``train_step`` and would silently train the baseline. This calls the
    module's ``accumulate_gradients``, averages the gradients across ranks
    once per optimizer step and steps; DDP's own reducer is never armed.
    Buffers are broadcast from rank 0 after every step, as DDP does.

    Args:
        module (nn.Module): A ``StimulativeClassifier``.
        bucket_size_mb (int): Size of the buckets gradients are averaged in.
        **kwargs: Passed to ``DistributedDataParallel``; ``device_ids`` is
            dropped for modules on the CPU, which DDP refuses it for.
    """

    def __init__(self, module, bucket_size_mb: int = 25, **kwargs):
        first = next(module.parameters(), None)
        if first is not None and first.device.type == 'cpu':
            kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)
        self.bucket_size_mb = bucket_size_mb

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """Run the iteration's passes, average gradients, step; return the
        module's log variables."""
        log_vars = self.module.accumulate_gradients(data, optim_wrapper)
        if optim_wrapper.should_update():
            self.average_gradients()
            optim_wrapper.step()
            optim_wrapper.zero_grad()
            self.broadcast_buffers_from_rank0()
        return log_vars

    def average_gradients(self) -> None:
        """Average the gradients of all trainable parameters across ranks."""
        params = [p for p in self.module.parameters() if p.requires_grad]
        for param in params:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
        all_reduce_params([p.grad for p in params], coalesce=True,
                          bucket_size_mb=self.bucket_size_mb, op='mean')

    def broadcast_buffers_from_rank0(self) -> None:
        """Give every rank rank 0's buffers (BN running statistics)."""
        buffers = list(self.module.buffers())
        if not buffers or not torch_dist.is_initialized() or \
                torch_dist.get_world_size() == 1:
            return
        by_dtype = {}
        for buffer in buffers:
            by_dtype.setdefault(buffer.dtype, []).append(buffer)
        for group in by_dtype.values():
            flat = _flatten_dense_tensors(group)
            torch_dist.broadcast(flat, src=0)
            for buffer, synced in zip(
                    group, _unflatten_dense_tensors(flat, group)):
                buffer.copy_(synced)
