# Copyright (c) mmstim contributors. All rights reserved.
from contextlib import contextmanager
from typing import (Callable, ContextManager, Dict, Iterator, List, Optional,
                    Tuple, Union)

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmpretrain.models import ImageClassifier
from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS

from ..subnets import (Mask, SubnetDraw, SubnetSpec, find_residual_stages,
                       frozen_bn_statistics, run_as_subnet)
from ..subnets.input_side import check_sides, smallest_input_side

NOT_SET_MESSAGE = (
    'StimulativeClassifier.train_step ran without subnets handed over by '
    'set_subnets(), so this iteration would silently be plain training. '
    'Add the sampling hook to the config: custom_hooks=['
    "dict(type='SubnetSamplingHook', rule='default', num_subnets=1)] "
    '(num_subnets=0 for explicitly plain training).')


@MODELS.register_module()
class StimulativeClassifier(ImageClassifier):
    """Image classifier trained by stimulative training (ST and ST++).

    Every training iteration trains the full network on the labels; then
    each subnet handed over by :meth:`set_subnets` (by
    ``SubnetSamplingHook``) sees a possibly smaller copy of the batch and is
    pulled towards the full network's detached prediction by
    ``distill_loss``. Each pass is backpropagated at once (one graph alive
    at a time), then one optimizer step follows. Subnet passes leave BN
    running statistics as the main pass left them. Inference, the state
    dict and the arguments not listed here are :class:`ImageClassifier`'s.

    Args:
        backbone (dict | nn.Module): A residual backbone with registered
            stages (see ``register_residual_stages``).
        head (dict | nn.Module): A single-label ``ClsHead``-family head.
        distill_loss (dict | nn.Module): Loss between a subnet's logits and
            the teacher's; see ``KLDirectionLoss``.
        subnet_resize (dict, optional): The ``RandomSubnetResize`` for
            subnet inputs; None keeps the input.
        normalize_main_logits (bool): Compute the main cross-entropy on the
            logits normalised by ``distill_loss`` (ST++).
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 neck: Optional[Union[dict, nn.Module]] = None,
                 head: Optional[Union[dict, nn.Module]] = None,
                 distill_loss: Union[dict, nn.Module] = dict(
                     type='KLDirectionLoss'),
                 subnet_resize: Optional[dict] = None,
                 normalize_main_logits: bool = False,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            backbone=backbone, neck=neck, head=head, pretrained=pretrained,
            train_cfg=train_cfg, data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not isinstance(self.head, ClsHead):
            raise TypeError(
                f'StimulativeClassifier supports single-label heads of the '
                f'ClsHead family (e.g. LinearClsHead); got '
                f'{type(self.head).__name__}.')
        self.residual_stages = find_residual_stages(self.backbone)
        self.distill_loss = (MODELS.build(distill_loss) if isinstance(
            distill_loss, dict) else distill_loss)
        self.subnet_resize = (MODELS.build(subnet_resize) if isinstance(
            subnet_resize, dict) else subnet_resize)
        self.normalize_main_logits = normalize_main_logits
        # Input sides whose subnet sides were checked against the smallest
        # side the backbone takes (found once, here).
        self._checked_sides = set()
        if subnet_resize is not None:
            self.smallest_side = smallest_input_side(self.backbone)
            img_size = getattr(self.backbone, 'img_size', None)  # ViT
            if img_size is not None:
                self.check_input_side(int(img_size[0]))
        # The next iteration's (draws, kl_weight), see ``set_subnets``.
        self._next_draws: Optional[Tuple[List[SubnetDraw], float]] = None

    def subnet(self, spec: SubnetSpec) -> ContextManager[Mask]:
        """Run as the subnet ``spec`` (kept depths such as ``(3, 3, 4, 3)``
        or keep-masks) inside a ``with`` block that yields the mask."""
        return run_as_subnet(self.residual_stages, spec)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw logits of the network as it currently runs."""
        logits = self.head(self.extract_feat(inputs))
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            raise TypeError(
                f'{type(self.head).__name__} returned '
                f'{type(logits).__name__} in training; StimulativeClassifier '
                f'needs single-label heads that return (N, C) logits.')
        return logits

    def loss(self, inputs: torch.Tensor, data_samples: list) -> dict:
        """Plain classification loss; refused in training, where it would
        bypass :meth:`train_step` and silently train the baseline."""
        if self.training:
            raise RuntimeError(
                'StimulativeClassifier was trained through '
                "forward(mode='loss'), which bypasses its train_step: the "
                'run would silently be plain training. This happens with '
                "MMEngine's MMDistributedDataParallel; use "
                "model_wrapper_cfg=dict(type='StimulativeDDP') for "
                'distributed training.')
        return super().loss(inputs, data_samples)

    def set_subnets(self, draws: List[SubnetDraw],
                    kl_weight: float = 1.0) -> None:
        """Hand over the subnets (none: the full network only) and the
        distillation loss multiplier of the next training iteration, which
        consumes them; a step without them raises."""
        self._next_draws = (list(draws), float(kl_weight))

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """One stimulative-training iteration, optimizer step included;
        returns :meth:`accumulate_gradients`'s log variables."""
        log_vars = self.accumulate_gradients(data, optim_wrapper)
        if optim_wrapper.should_update():
            optim_wrapper.step()
            optim_wrapper.zero_grad()
        return log_vars

    def accumulate_gradients(
            self, data: Union[dict, tuple, list],
            optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """Forward and backward the main pass, then each subnet's, without
        stepping; the wrapper counts one iteration.

        Returns:
            dict[str, Tensor]: ``loss``, ``loss_cls`` and the head's other
            losses; with subnets also ``loss_kl`` (mean over the subnets),
            ``kl_weight``, ``kept_depth`` (mean number of kept blocks) and
            ``subnet_side`` (mean input side).
        """
        if self._next_draws is None:
            raise RuntimeError(NOT_SET_MESSAGE)
        if not isinstance(optim_wrapper, OptimWrapper):
            raise TypeError(
                f'StimulativeClassifier trains with one OptimWrapper (or '
                f'AmpOptimWrapper); got {type(optim_wrapper).__name__}.')
        draws, kl_weight = self._next_draws
        self._next_draws = None
        with one_accumulation_step(optim_wrapper) as backward:
            with optim_wrapper.optim_context(self):
                data = self.data_preprocessor(data, True)
                inputs, data_samples = data['inputs'], data['data_samples']
                logits = self.logits(inputs)
                main_logits = (
                    self.distill_loss.normalize_logits(logits)
                    if self.normalize_main_logits else logits)
                head_losses = self.head._get_loss(main_logits, data_samples)
            loss_cls = head_losses.pop('loss')
            backward(loss_cls)
            teacher = logits.detach()
            del logits, main_logits
            sides = self.subnet_sides(draws, inputs.shape[-2])
            loss_kl = torch.zeros((), device=inputs.device)
            for draw, side in zip(draws, sides):
                with optim_wrapper.optim_context(self):
                    student = self.subnet_logits(inputs, draw.mask, side)
                    loss = kl_weight * self.distill_loss(student, teacher)
                backward(loss)
                loss_kl = loss_kl + loss.detach()

        log_vars = dict(loss=loss_cls.detach() + loss_kl,
                        loss_cls=loss_cls.detach())
        if draws:
            log_vars.update(
                loss_kl=loss_kl / len(draws),
                kl_weight=torch.tensor(kl_weight *
                                       self.distill_loss.loss_weight),
                kept_depth=torch.tensor(
                    sum(sum(d.depths) for d in draws) / len(draws)),
                subnet_side=torch.tensor(sum(sides) / len(sides)))
        log_vars.update({k: v.detach() for k, v in head_losses.items()})
        return log_vars

    def subnet_sides(self, draws: List[SubnetDraw], side: int) -> List[int]:
        """Input sides of the subnets for inputs of side ``side``."""
        if self.subnet_resize is None:
            return [side] * len(draws)
        self.check_input_side(side)
        return self.subnet_resize.choose_sides(
            [draw.resize_u for draw in draws], side)

    def check_input_side(self, side: int) -> None:
        """Refuse inputs whose subnet sides the backbone cannot take."""
        if side not in self._checked_sides:
            check_sides(
                type(self.backbone).__name__, self.smallest_side, side,
                self.subnet_resize.side_range(side), self.subnet_resize)
            self._checked_sides.add(side)

    def subnet_logits(self, inputs: torch.Tensor, mask: Mask,
                      side: int) -> torch.Tensor:
        """Logits of a subnet on inputs resized to ``side``; BN running
        statistics are left untouched."""
        if self.subnet_resize is not None:
            inputs = self.subnet_resize(inputs, side)
        with self.subnet(mask), frozen_bn_statistics(self):
            return self.logits(inputs)


@contextmanager
def one_accumulation_step(
        optim_wrapper: OptimWrapper) -> Iterator[Callable]:
    """Backpropagate several losses as one accumulation step.

    MMEngine's ``OptimWrapper`` counts every ``backward`` as an iteration
    (``_inner_count``): with accumulation, later passes would be scaled by
    another factor and ``should_update`` could step mid-iteration. The
    yielded function scales a loss as the iteration's first pass and
    backpropagates it; on leaving, the count has advanced by exactly one.
    """
    start = optim_wrapper._inner_count

    def backward(loss: torch.Tensor) -> None:
        optim_wrapper._inner_count = start
        optim_wrapper.backward(optim_wrapper.scale_loss(loss))

    try:
        yield backward
    finally:
        optim_wrapper._inner_count = start + 1
