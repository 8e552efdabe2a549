# Copyright (c) mmstim contributors. All rights reserved.
"""Cost of networks and subnets: MACs, parameters, latency, Pareto fronts,
and the compute of stimulative training relative to plain training."""
import platform
import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config

from mmstim.models.subnets import (RandomSubnetResize, SubnetSampler,
                                   find_residual_stages, run_as_subnet)


def count_macs(model: nn.Module, inputs: torch.Tensor) -> Dict[str, int]:
    """MACs of ``model(inputs)`` per convolution and linear module name.

    MMEngine's ``FlopAnalyzer`` counts these layers in MACs; layers that did
    not run count 0; normalisation and activations are negligible.
    """
    analyzer = FlopAnalyzer(model, (inputs, ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_module = analyzer.by_module()
    return {
        name: int(by_module.get(name, 0))
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    }


class _TensorMode(nn.Module):
    """Calls a classifier in ``mode='tensor'``."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(inputs, mode='tensor')


def block_macs(classifier: nn.Module, side: int,
               channels: int = 3) -> Dict[str, object]:
    """Split a classifier's MACs into its residual blocks and the rest.

    Returns:
        dict: ``blocks`` (MACs per stage and block), ``spatial`` (the other
        layers of the backbone and neck, whose cost grows with the input
        area) and ``linear`` (the head, whose cost does not).
    """
    was_training = classifier.training
    classifier.eval()
    macs = count_macs(
        _TensorMode(classifier), torch.zeros(1, channels, side, side))
    macs = {name[len('classifier.'):]: value for name, value in macs.items()}
    classifier.train(was_training)
    head = {name for name in macs if name.startswith('head.')}
    blocks = []
    assigned = set()
    for stage in find_residual_stages(classifier.backbone):
        stage_macs = []
        for index in range(len(stage)):
            prefix = f'backbone.{stage.name}.{index}.'
            names = [n for n in macs if n.startswith(prefix)]
            assigned.update(names)
            stage_macs.append(sum(macs[n] for n in names))
        blocks.append(stage_macs)
    spatial = sum(v for n, v in macs.items()
                  if n not in assigned and n not in head)
    return dict(blocks=blocks, spatial=spatial,
                linear=sum(macs[n] for n in head))


def subnet_macs(parts: dict, mask: Sequence[Sequence[bool]]) -> int:
    """MACs for one image of a subnet, from :func:`block_macs`'s split.

    A dropped block acts as the identity, so a subnet costs the layers
    outside the blocks plus its kept blocks.
    """
    return int(parts['spatial'] + _kept(parts['blocks'], mask) +
               parts['linear'])


def block_params(classifier: nn.Module) -> Dict[str, object]:
    """Split a classifier's parameters into ``blocks`` (per stage and
    residual block) and ``other`` (stem, neck, head)."""
    blocks = [[_num_params(block) for block in stage.blocks]
              for stage in find_residual_stages(classifier.backbone)]
    return dict(blocks=blocks,
                other=_num_params(classifier) - sum(map(sum, blocks)))


def subnet_params(parts: dict, mask: Sequence[Sequence[bool]]) -> int:
    """Parameters of a subnet, from :func:`block_params`'s split."""
    return int(parts['other'] + _kept(parts['blocks'], mask))


def _kept(blocks: Sequence[Sequence[int]],
          mask: Sequence[Sequence[bool]]) -> int:
    """Sum of the per-block values of the kept blocks."""
    return sum(value for stage, stage_mask in zip(blocks, mask)
               for value, keep in zip(stage, stage_mask) if keep)


def _num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def measure_latency(model: nn.Module,
                    inputs: torch.Tensor,
                    repeats: int = 10,
                    warmup: int = 2) -> Dict[str, object]:
    """Time ``model(inputs, mode='tensor')`` in eval mode without gradients.

    Each of ``repeats`` calls, after ``warmup`` untimed ones, is timed on
    its own (CUDA synchronised before and after); the median is robust to
    the other loads of a shared machine.

    Returns:
        dict: ``batch_size``, ``median_s``, ``min_s`` and every timing in
        seconds (``times_s``).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f'repeats must be >= 1 and warmup >= 0; got '
                         f'{repeats} and {warmup}.')
    was_training = model.training
    model.eval()
    times = []
    try:
        for _ in range(warmup):
            model(inputs, mode='tensor')
        for _ in range(repeats):
            if inputs.is_cuda:
                torch.cuda.synchronize(inputs.device)
            start = time.perf_counter()
            model(inputs, mode='tensor')
            if inputs.is_cuda:
                torch.cuda.synchronize(inputs.device)
            times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return dict(batch_size=int(inputs.shape[0]),
                median_s=statistics.median(times), min_s=min(times),
                times_s=times)


def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else platform's."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name() -> str:
    """The accelerator, or the processor and torch threads, in words."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f'{processor_name()}, {torch.get_num_threads()} torch thread(s)'


def pareto_optimal(points: Sequence[Tuple[float, float]]) -> List[bool]:
    """Which ``(cost, accuracy)`` points are Pareto-optimal.

    A point is dominated when another has lower-or-equal cost and
    higher-or-equal accuracy, one of them strictly; equal points are all
    optimal.

    Examples:
        >>> pareto_optimal([(1, 50), (2, 60), (2, 55), (3, 60)])
        [True, True, False, False]
    """
    return [
        not any(c <= cost and a >= acc and (c < cost or a > acc)
                for c, a in points) for cost, acc in points
    ]


def add_subnet_costs(entries: List[dict], classifier: nn.Module,
                     input_shape: Sequence[int]) -> None:
    """Add ``params``, ``macs`` and ``macs_ratio`` to subnet results.

    ``entries`` are results of :class:`SubnetTestLoop`, the full network
    first; ``input_shape`` is ``(C, H, W)`` of one input image.
    """
    macs = block_macs(classifier, int(input_shape[1]), int(input_shape[0]))
    params = block_params(classifier)
    for entry in entries:
        entry['params'] = subnet_params(params, entry['mask'])
        entry['macs'] = subnet_macs(macs, entry['mask'])
        entry['macs_ratio'] = entry['macs'] / entries[0]['macs']


def add_subnet_latency(entries: List[dict],
                       classifier: nn.Module,
                       batches: Sequence[torch.Tensor],
                       repeats: int = 10,
                       warmup: int = 2,
                       desc: str = 'latency') -> None:
    """Add ``latency`` (one :func:`measure_latency` per batch) to results.

    Every subnet runs through :func:`run_as_subnet`, so it costs what the
    smaller network costs. ``desc`` labels the progress bar.
    """
    from tqdm import tqdm
    stages = find_residual_stages(classifier.backbone)
    for entry in tqdm(entries, desc=desc):
        with run_as_subnet(stages, entry['mask']):
            entry['latency'] = [
                measure_latency(classifier, inputs, repeats, warmup)
                for inputs in batches
            ]


def mark_pareto_optimal(entries: List[dict]) -> str:
    """Add ``pareto`` (a flag per cost axis) to the results of one series.

    The cost axes are ``params``, ``macs`` and, when measured,
    ``latency_b<batch size>`` (median seconds). The accuracy is the top-1
    after BN re-estimation when every entry has it, else the plain top-1.

    Returns:
        str: The accuracy key used: ``'top1_recalibrated'`` or ``'top1'``.
    """
    key = 'top1_recalibrated' if all(
        'top1_recalibrated' in e for e in entries) else 'top1'
    costs = []
    for entry in entries:
        entry['pareto'] = {}
        costs.append(dict(params=entry['params'], macs=entry['macs']))
        for timing in entry.get('latency', []):
            costs[-1][f'latency_b{timing["batch_size"]}'] = timing['median_s']
    for axis in costs[0]:
        flags = pareto_optimal([(c[axis], e[key])
                                for c, e in zip(costs, entries)])
        for entry, flag in zip(entries, flags):
            entry['pareto'][axis] = flag
    return key


def expected_cost_ratio(classifier: nn.Module,
                        sampler: SubnetSampler,
                        num_subnets: int,
                        side: int,
                        resize: Optional[RandomSubnetResize] = None,
                        channels: int = 3) -> Dict[str, float]:
    """Theoretical compute of one ST iteration over one plain iteration.

    The expected MACs of a subnet are the stem plus each block's MACs times
    the probability that the rule keeps it, scaled by the expected input
    area ``E[s^2] / H^2`` of the resize distribution, plus the fully
    connected layers. Forward and backward scale alike, so the ratio of
    MACs is the ratio of compute.

    Args:
        num_subnets (int): Subnets per iteration.
        side (int): Side of the main network's input.

    Returns:
        dict[str, float]: ``full_macs``, ``expected_subnet_macs``,
        ``expected_kept_fraction`` (of block MACs), ``expected_area`` and
        ``ratio`` = (full + num_subnets * subnet) / full.
    """
    parts = block_macs(classifier, side, channels)
    keep = sampler.expected_kept_fraction()
    block_total = sum(sum(stage) for stage in parts['blocks'])
    kept = sum(p * m for stage_p, stage_m in zip(keep, parts['blocks'])
               for p, m in zip(stage_p, stage_m))
    full = parts['spatial'] + block_total + parts['linear']
    area = 1.0
    if resize is not None:
        sides = resize.side_range(side)
        area = sum(s * s for s in sides) / len(sides) / side**2
    subnet = (parts['spatial'] + kept) * area + parts['linear']
    return dict(
        full_macs=float(full),
        expected_subnet_macs=float(subnet),
        expected_kept_fraction=kept / block_total,
        expected_area=area,
        ratio=(full + num_subnets * subnet) / full)


def input_shape(cfg: Config) -> Tuple[int, int]:
    """Channels (of the data preprocessor's ``mean``, 3 without one) and
    side (of the training pipeline's last crop or resize) of a config.

    Raises:
        ValueError: The training pipeline sets no input side.
    """
    preprocessor = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor') or {}
    channels = len(preprocessor.get('mean') or (0, 0, 0))
    sizes = [step.get('crop_size') or step.get('scale')
             for step in cfg.train_dataloader.dataset.pipeline]
    sizes = [size for size in sizes if size]
    if not sizes:
        raise ValueError('The training pipeline has no crop or resize that '
                         'sets the input side.')
    side = sizes[-1]
    return channels, int(side if isinstance(side, int) else side[0])


def training_cost_ratio(cfg: Config) -> float:
    """The expected compute of a config's training iteration over a plain one.

    1.0 for a plain classifier or a run that samples no subnets; otherwise
    :func:`expected_cost_ratio` with the sampler of
    :func:`~mmstim.engine.build_subnet_sampler`.
    """
    from mmpretrain.registry import MODELS

    from mmstim.engine import build_subnet_sampler
    model = MODELS.build(cfg.model)
    if not hasattr(model, 'subnet_resize'):
        return 1.0
    sampler = build_subnet_sampler(cfg, model)
    channels, side = input_shape(cfg)
    return expected_cost_ratio(model, sampler, sampler.num_subnets, side,
                               model.subnet_resize, channels)['ratio']
