# Copyright (c) mmstim contributors. All rights reserved.
import itertools
import random
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.dist import all_reduce, is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from mmpretrain.registry import LOOPS
from torch.nn.modules.batchnorm import _BatchNorm

from mmstim.models.subnets import (Mask, SubnetSampler, SubnetSpec,
                                   find_residual_stages, full_mask,
                                   run_as_subnet, to_mask)
from mmstim.utils.report import markdown_table
from ..hooks.subnet_sampling_hook import build_subnet_sampler


@LOOPS.register_module()
class SubnetTestLoop(TestLoop):
    """Test the full network and its depth subnets: the loafing table.

    Every subnet is evaluated with the test evaluator, optionally again with
    BN statistics re-estimated for it on training images. The metrics hold
    the full network's under their usual names, every subnet's prefixed by
    its name (such as ``1-2-2`` or ``mask_110-10``), the re-estimated ones
    under ``<name>/recal/`` and the means over the proper subnets under
    ``mean_subnet/``. The table is logged and kept in :attr:`results`.
    Hooks see every batch of every pass. The other arguments are
    :class:`TestLoop`'s.

    Args:
        subnets (str | int | list): ``'rule'``: every subnet of the sampling
            rule (the config's ``SubnetSamplingHook``'s, or ``'default'``);
            an int N: N of them drawn at random with ``seed``; or a list of
            kept depths or keep-masks. The full network is always included.
        rule (str | list, optional): Overrides the hook's rule.
        recalibration_images (int): Training images to re-estimate BN
            statistics on for every subnet; 0 skips it.
        seed (int): Seed of the random choice of subnets and of the
            training loader's order.
        fp16 (bool): Test with autocast.
    """

    def __init__(self, runner, dataloader, evaluator,
                 subnets: Union[str, int, Sequence[SubnetSpec]] = 'rule',
                 rule=None, recalibration_images: int = 0, seed: int = 0,
                 fp16: bool = False):
        super().__init__(runner, dataloader, evaluator, fp16)
        if not (subnets == 'rule' or isinstance(subnets, (int, list, tuple))):
            raise ValueError(f"subnets must be 'rule', a number of random "
                             f'subnets or a list of subnets; got {subnets!r}.')
        if recalibration_images < 0:
            raise ValueError(f'recalibration_images must be >= 0, got '
                             f'{recalibration_images}.')
        self.subnets = subnets
        self.rule = rule
        self.recalibration_images = recalibration_images
        self.seed = seed
        self.results: List[dict] = []

    @property
    def model(self) -> nn.Module:
        """The classifier, unwrapped."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def subnet_specs(self) -> List[SubnetSpec]:
        """The subnets to evaluate, the full network first."""
        if isinstance(self.subnets, (list, tuple)):
            stages = find_residual_stages(self.model.backbone)
            masks = [full_mask(stages)] + [to_mask(stages, s)
                                           for s in self.subnets]
            return list(dict.fromkeys(masks))
        sampler = build_subnet_sampler(self.runner.cfg, self.model, self.rule)
        max_subnets = self.subnets if isinstance(self.subnets, int) else None
        return subnets_of_rule(sampler, max_subnets, self.seed)

    def run(self) -> dict:
        """Evaluate every subnet; return the metrics."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        train_loader = None
        if self.recalibration_images:
            train_loader = self.runner.build_dataloader(
                self.runner.cfg.train_dataloader, seed=self.seed)
        stages = find_residual_stages(self.model.backbone)
        specs = self.subnet_specs()
        if is_main_process():
            from tqdm import tqdm
            specs = tqdm(specs, desc='subnets')
        self.results, metrics = [], {}
        for spec in specs:
            with run_as_subnet(stages, spec) as mask:
                entry = dict(
                    name=subnet_name(mask),
                    depths=[sum(m) for m in mask],
                    mask=[[int(k) for k in m] for m in mask],
                    kept_blocks=sum(sum(m) for m in mask),
                    full=all(all(m) for m in mask),
                    metrics=self.evaluate())
                if train_loader is not None:
                    with recalibrated_bn(self.model, train_loader,
                                         self.recalibration_images):
                        entry['recal_metrics'] = self.evaluate()
            self.results.append(entry)
            metrics.update(prefixed(entry['name'], entry['metrics']))
            metrics.update(prefixed(f'{entry["name"]}/recal',
                                    entry.get('recal_metrics', {})))
        metrics.update(self.results[0]['metrics'])
        metrics.update(mean_subnet_metrics(self.results))
        self.runner.logger.info('Subnet test:\n' + loafing_table(self.results))
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics

    @torch.no_grad()
    def evaluate(self) -> dict:
        """The evaluator's metrics of the network as it runs now."""
        self.runner.model.eval()
        for idx, data_batch in enumerate(self.dataloader):
            self.runner.call_hook(
                'before_test_iter', batch_idx=idx, data_batch=data_batch)
            with torch.autocast(
                    self.model.data_preprocessor.device.type,
                    enabled=self.fp16):
                outputs = self.runner.model.test_step(data_batch)
            self.evaluator.process(data_samples=outputs, data_batch=data_batch)
            self.runner.call_hook(
                'after_test_iter', batch_idx=idx, data_batch=data_batch,
                outputs=outputs)
        return self.evaluator.evaluate(len(self.dataloader.dataset))


def subnet_name(mask: Mask) -> str:
    """``full``, kept depths such as ``1-2-2``, or ``mask_110-10``."""
    if all(all(m) for m in mask):
        return 'full'
    if all(list(m) == sorted(m, reverse=True) for m in mask):
        return '-'.join(str(sum(m)) for m in mask)
    return 'mask_' + '-'.join(''.join(str(int(k)) for k in m) for m in mask)


def prefixed(prefix: str, metrics: dict) -> dict:
    """The metrics with ``<prefix>/`` before every key."""
    return {f'{prefix}/{key}': value for key, value in metrics.items()}


def mean_subnet_metrics(results: Sequence[dict]) -> dict:
    """Means over the proper subnets, under ``mean_subnet/``."""
    subnets = [r for r in results if not r['full']]
    means = {}
    for field, prefix in (('metrics', 'mean_subnet'),
                          ('recal_metrics', 'mean_subnet/recal')):
        values = [r[field] for r in subnets if field in r]
        for key in values[0] if values else []:
            means[f'{prefix}/{key}'] = float(
                np.mean([v[key] for v in values]))
    return means


def loafing_table(results: Sequence[dict]) -> str:
    """A markdown table: one row per subnet, one column per metric."""
    keys = list(results[0]['metrics'])
    recal = 'recal_metrics' in results[0]
    header = ['subnet', 'kept blocks'] + keys + (
        [f'{k}, BN recal.' for k in keys] if recal else [])
    rows = [[r['name'], r['kept_blocks']] + [
        f'{float(r[group][k]):.2f}'
        for group in (('metrics', 'recal_metrics') if recal else ('metrics',))
        for k in keys] for r in results]
    return markdown_table(header, rows)


def subnets_of_rule(sampler: SubnetSampler, max_subnets: Optional[int] = None,
                    seed: int = 0) -> List[tuple]:
    """Kept depths of the subnets of a sampler's depth rule, deepest first.

    A space larger than ``max_subnets`` (None: no limit) is cut to that many
    distinct subnets drawn with ``seed``, the full network always included.
    """
    if sampler.allowed_depths is None:
        raise ValueError('Only depth rules can be enumerated; the '
                         'stochastic_depth rule draws masks: list the '
                         'subnets explicitly.')
    space = list(itertools.product(*sampler.allowed_depths))
    full = tuple(len(stage) for stage in sampler.stages)
    if max_subnets is not None and len(space) > max_subnets:
        rng = np.random.default_rng(seed)
        others = [s for s in space if s != full]
        chosen = rng.choice(len(others), max_subnets - 1, replace=False)
        space = [full] + [others[i] for i in sorted(chosen)]
    return sorted(set(space) | {full}, key=lambda s: (-sum(s), s))


@contextmanager
def seeded_random_state(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's generators inside the block.

    The previous states (torch's on every device, by ``fork_rng``) are
    restored on leaving: the block and its surroundings do not interact.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


@contextmanager
def recalibrated_bn(model: nn.Module, dataloader: Iterable,
                    num_images: int) -> Iterator[None]:
    """Re-estimate BN running statistics for the network as it runs now.

    Inside the block the BN layers hold the plain average of the batch
    statistics of the first ``ceil(num_images / batch size)`` training
    batches (no gradients, generators seeded with 0 so the augmentation
    repeats, averaged over ranks); on leaving, the originals are restored.
    MMPretrain's ``update_bn_stats`` keeps autograd on, uses only whole
    batches and does not restore the buffers, hence this.
    """
    norms = [m for m in model.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats]
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(),
              m.num_batches_tracked.clone()) for m in norms]
    was_training = model.training
    try:
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the batches
        model.train()
        seen = 0
        with torch.no_grad(), seeded_random_state(0):
            for batch in dataloader:
                if seen >= num_images:
                    break
                data = model.data_preprocessor(batch, False)
                model(data['inputs'], mode='tensor')
                seen += data['inputs'].shape[0]
        for norm in norms:
            all_reduce(norm.running_mean, op='mean')
            all_reduce(norm.running_var, op='mean')
        model.eval()
        yield
    finally:
        for norm, (momentum, mean, var, count) in zip(norms, saved):
            norm.momentum = momentum
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
            norm.num_batches_tracked.copy_(count)
        model.train(was_training)
