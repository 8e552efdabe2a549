# Copyright (c) mmstim contributors. All rights reserved.
"""The accuracy-cost frontier of a checkpoint's subnets."""
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.device import get_device

from .cost import add_subnet_costs, add_subnet_latency, mark_pareto_optimal
from .subnet_eval import (RunSpec, mean_subnet_accuracy, subnet_test_runner,
                          test_subnets)


def evaluate_frontier(spec: RunSpec, cfg: Config,
                      latency: Optional[dict] = None, **loop_args) -> dict:
    """Evaluate the subnets of one checkpoint; add their costs and flags.

    Args:
        latency (dict, optional): ``batch_sizes``, ``repeats`` and
            ``warmup`` to time every subnet on seeded random inputs of the
            test data's shape; None: no timing.
        **loop_args: Arguments of :func:`subnet_test_config`.

    Returns:
        dict: The run's summary and per subnet its accuracies, costs and
        Pareto flags.
    """
    from mmstim.engine import build_subnet_sampler
    runner = subnet_test_runner(cfg, spec.checkpoint, **loop_args)
    results, _ = test_subnets(runner)
    model = runner.model
    inputs = model.data_preprocessor(next(iter(runner.test_dataloader)),
                                     False)['inputs']
    shape = [int(n) for n in inputs.shape[1:]]
    add_subnet_costs(results, model, shape)
    if latency:
        generator = torch.Generator().manual_seed(loop_args.get('seed', 0))
        batches = [torch.randn((size, *shape), generator=generator).to(
            get_device()) for size in latency['batch_sizes']]
        add_subnet_latency(results, model, batches, latency['repeats'],
                           latency['warmup'], desc=f'latency {spec.label}')
    accuracy = mark_pareto_optimal(results)
    sampler = build_subnet_sampler(cfg, model, loop_args.get('rule'))
    return dict(
        label=spec.label, config=spec.config, checkpoint=spec.checkpoint,
        model=type(model).__name__, rule=sampler.rule,
        num_subnets_in_space=sampler.num_subnets_in_space(),
        num_evaluated=len(results), input_shape=shape,
        full_params=results[0]['params'], full_macs=results[0]['macs'],
        full_top1=results[0]['top1'],
        mean_subnet_top1=mean_subnet_accuracy(results),
        mean_subnet_top1_recalibrated=mean_subnet_accuracy(
            results, 'top1_recalibrated'),
        pareto_accuracy=accuracy, subnets=results)
