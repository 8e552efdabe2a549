# Copyright (c) mmstim contributors. All rights reserved.
"""Time per iteration and peak memory of ST / ST++ against a plain step.

The variants: ``plain`` (MMPretrain's ImageClassifier step), ``st`` (vanilla
ST: plain KL, one subnet, default rule, full-size inputs), ``stpp`` (ST++)
and ``stpp_sum`` (ST++ with every loss summed before a single backward).
Measure each in a fresh process: peak memory never goes down within one.
"""
import copy
import resource
import time
from dataclasses import dataclass
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmstim.analysis.cost import expected_cost_ratio
from mmstim.engine import build_subnet_sampler
from mmstim.models.subnets import SubnetSampler, find_residual_stages

VARIANTS = ('plain', 'st', 'stpp', 'stpp_sum')


@dataclass
class CostSettings:
    """What the cost benchmark measures.

    Attributes:
        depth: Depth of the MMPretrain ResNet measured without a config.
        config: Measure the ``StimulativeClassifier`` of this config instead.
        iters, warmup: Timed steps, and untimed steps before them.
        num_subnets, rule: ST++ subnets per step and sampling rule; default:
            the config's sampling settings, else 6 and ``'paper'``.
        cold_shapes: Do not run the resize sides once before timing.
    """
    depth: int = 50
    config: Optional[str] = None
    batch_size: int = 8
    image_size: int = 160
    iters: int = 3
    warmup: int = 1
    num_subnets: Optional[int] = None
    rule: Optional[str] = None
    device: str = 'cpu'
    cold_shapes: bool = False


def config_model(path: str) -> dict:
    """The ``StimulativeClassifier`` of an mmstim config (with the config's
    top-level ``data_preprocessor`` when the model has none).

    Raises:
        ValueError: The config's model is not a ``StimulativeClassifier``.
    """
    cfg = Config.fromfile(path)
    model = copy.deepcopy(cfg.model.to_dict())
    if model.get('type') != 'StimulativeClassifier':
        raise ValueError(
            f'{path}: the model is {model.get("type")!r}, not a '
            'StimulativeClassifier; give an ST / ST++ config.')
    if model.get('data_preprocessor') is None:
        model['data_preprocessor'] = cfg.get('data_preprocessor')
    return model


def variant_sampler(settings: CostSettings, variant: str,
                    model: torch.nn.Module) -> SubnetSampler:
    """The sampler of a variant: none for ``plain``, one subnet of the
    default rule for ``st``; for ST++ the config's sampler, else the
    ``'paper'`` rule with 6 subnets, with ``settings``' rule and number."""
    stages = find_residual_stages(model.backbone)
    if variant in ('plain', 'st'):
        return SubnetSampler(stages, 'default', int(variant == 'st'))
    if settings.config:
        base = build_subnet_sampler(Config.fromfile(settings.config), model)
    else:
        base = SubnetSampler(stages, settings.rule or 'paper', 6)
    return SubnetSampler(
        stages, settings.rule or base.rule,
        settings.num_subnets or base.num_subnets, seed=base.seed,
        min_keep_prob=base.min_keep_prob)


def build_model(settings: CostSettings, variant: str) -> torch.nn.Module:
    """The plain ImageClassifier or the StimulativeClassifier of a variant."""
    stpp = variant in ('stpp', 'stpp_sum')
    if settings.config:
        return MODELS.build(config_variant(settings.config, variant))
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=settings.depth),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000,
                  in_channels=512 if settings.depth < 50 else 2048),
        data_preprocessor=dict(type='ClsDataPreprocessor',
                               mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375]))
    if variant != 'plain':
        cfg.update(
            type='StimulativeClassifier',
            distill_loss=dict(type='KLDirectionLoss',
                              normalize='layernorm' if stpp else None),
            subnet_resize=dict(type='RandomSubnetResize') if stpp else None,
            normalize_main_logits=stpp)
    return MODELS.build(cfg)


def config_variant(path: str, variant: str) -> dict:
    """A variant of a config's model: ``stpp`` and ``stpp_sum`` as given,
    ``st`` with plain KL, no resize and the plain main loss, ``plain`` as
    MMPretrain's ImageClassifier."""
    cfg = config_model(path)
    if variant == 'plain':
        for key in ('distill_loss', 'subnet_resize', 'normalize_main_logits'):
            cfg.pop(key, None)
        cfg['type'] = 'ImageClassifier'
    elif variant == 'st':
        cfg.update(
            distill_loss=dict(type='KLDirectionLoss', normalize=None),
            subnet_resize=None, normalize_main_logits=False)
    return cfg


def sum_then_backward_step(model, batch, optim_wrapper, draws) -> None:
    """ST++ with every graph kept alive until one backward."""
    with optim_wrapper.optim_context(model):
        data = model.data_preprocessor(batch, True)
        inputs = data['inputs']
        logits = model.logits(inputs)
        loss = model.head._get_loss(
            model.distill_loss.normalize_logits(logits),
            data['data_samples'])['loss']
        teacher = logits.detach()
        sides = model.subnet_sides(draws, inputs.shape[-2])
        for draw, side in zip(draws, sides):
            student = model.subnet_logits(inputs, draw.mask, side)
            loss = loss + model.distill_loss(student, teacher)
    optim_wrapper.update_params(loss)


def random_batch(batch_size: int, side: int,
                 num_classes: int = 1000) -> dict:
    """Random uint8 RGB images and labels, as a data loader yields them."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, side, side),
                           generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (batch_size, ),
                           generator=generator)
    return dict(inputs=list(images),
                data_samples=[DataSample().set_gt_label(int(label))
                              for label in labels])


def warm_input_sides(model, batch, optim_wrapper, sides) -> None:
    """Run the full network forward and backward once at every side,
    discarding the gradients: subnets meet the same spatial sizes."""
    inputs = model.data_preprocessor(batch, True)['inputs']
    for side in sorted(set(sides)):
        with optim_wrapper.optim_context(model):
            logits = model.logits(model.subnet_resize(inputs, side))
        logits.float().sum().backward()
    model.zero_grad(set_to_none=True)


def run_variant(settings: CostSettings, variant: str) -> dict:
    """Measure one variant in this process.

    Returns:
        dict: ``variant``, ``rule``, ``num_subnets``, ``seconds_per_iter``
        (mean of the timed steps), ``peak_mb`` (GPU memory, or the peak
        resident set on the CPU) and ``warmed_sides``.
    """
    torch.manual_seed(0)
    device = torch.device(settings.device)
    cuda = device.type == 'cuda'
    model = build_model(settings, variant)
    sampler = variant_sampler(settings, variant, model)
    model = model.to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    wrapper = (AmpOptimWrapper(optimizer=optimizer)
               if cuda else OptimWrapper(optimizer))
    batch = random_batch(settings.batch_size, settings.image_size,
                         model.head.num_classes)
    num_iters = settings.warmup + settings.iters
    draws = [sampler.draws(i) for i in range(num_iters)]
    warmed_sides = []
    if getattr(model, 'subnet_resize', None) is not None and \
            not settings.cold_shapes:
        warmed_sides = sorted({
            side for subnets in draws
            for side in model.subnet_sides(subnets, settings.image_size)})
        warm_input_sides(model, batch, wrapper, warmed_sides)
    times = []
    for iteration in range(num_iters):
        if variant != 'plain':
            model.set_subnets(draws[iteration])
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        if variant == 'stpp_sum':
            sum_then_backward_step(model, batch, wrapper, draws[iteration])
        else:
            model.train_step(batch, wrapper)
        if cuda:
            torch.cuda.synchronize()
        if iteration >= settings.warmup:
            times.append(time.perf_counter() - start)
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if cuda else
               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return dict(variant=variant, rule=sampler.rule,
                num_subnets=sampler.num_subnets,
                seconds_per_iter=sum(times) / len(times), peak_mb=peak_mb,
                warmed_sides=len(warmed_sides))


def theoretical_ratios(settings: CostSettings) -> dict:
    """Per variant, the expected compute of a step over the plain step."""
    ratios = {}
    for variant in VARIANTS:
        model = build_model(settings, variant)
        sampler = variant_sampler(settings, variant, model)
        ratios[variant] = 1.0 if sampler.num_subnets == 0 else \
            expected_cost_ratio(model, sampler, sampler.num_subnets,
                                settings.image_size,
                                model.subnet_resize)['ratio']
    return ratios
