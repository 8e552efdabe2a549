# Copyright (c) mmstim contributors. All rights reserved.
import math
from typing import Any, List, Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.dist import broadcast_object_list
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmstim.models.subnets import SubnetSampler, find_residual_stages
from mmstim.models.subnets.sampler import Rule

KL_SCHEDULES = ('constant', 'cosine_up', 'cosine_down')


@HOOKS.register_module()
class SubnetSamplingHook(Hook):
    """Choose the subnets of every stimulative-training iteration.

    Before each training iteration it draws the subnets (with the numbers
    that fix their input sides) and hands them, with the KL weight of its
    schedule, to ``StimulativeClassifier.set_subnets``. The draws are a pure
    function of ``(seed, iteration)``: all ranks agree, a resumed run draws
    what the uninterrupted run drew, and :func:`build_subnet_sampler` lists
    them afterwards.

    Args:
        rule (str | list): Sampling rule, see :class:`SubnetSampler`.
        num_subnets (int): Subnets per iteration (the paper uses 6; 0 is
            plain training).
        begin_epoch (int): First epoch with subnets.
        begin_iter (int): First iteration with subnets.
        kl_schedule (str): Weight of the KL loss over training:
            ``'constant'``, ``'cosine_up'`` (0 to 1) or ``'cosine_down'``
            (1 to 0), from the first iteration with subnets to the last.
        min_keep_prob (float): Last block's keep probability for the
            ``'stochastic_depth'`` rule.
        seed (int, optional): Seed of the draws; None takes the runner's
            seed (rank 0's, i.e. ``randomness.seed``).
    """

    priority = 'NORMAL'

    def __init__(self, rule: Rule = 'default', num_subnets: int = 1,
                 begin_epoch: int = 0, begin_iter: int = 0,
                 kl_schedule: str = 'constant', min_keep_prob: float = 0.8,
                 seed: Optional[int] = None):
        if not isinstance(num_subnets, int) or num_subnets < 0:
            raise ValueError(f'num_subnets must be an integer >= 0 (0 means '
                             f'plain training), got {num_subnets!r}.')
        if begin_epoch < 0 or begin_iter < 0:
            raise ValueError(f'begin_epoch and begin_iter must be >= 0, got '
                             f'{begin_epoch} and {begin_iter}.')
        if kl_schedule not in KL_SCHEDULES:
            raise ValueError(f'kl_schedule={kl_schedule!r} is not supported; '
                             f'allowed: {KL_SCHEDULES}.')
        self.sampler_settings = dict(
            rule=rule, num_subnets=num_subnets, min_keep_prob=min_keep_prob,
            seed=seed)
        self.begin_epoch = begin_epoch
        self.begin_iter = begin_iter
        self.kl_schedule = kl_schedule
        self.sampler: Optional[SubnetSampler] = None

    def before_train(self, runner) -> None:
        """Validate the rule against the model and fix the seed."""
        stimulative_model(runner.model)
        max_epochs = getattr(runner, 'max_epochs', None)
        if self.begin_epoch and max_epochs is not None and \
                self.begin_epoch >= max_epochs:
            raise ValueError(
                f'begin_epoch={self.begin_epoch} is not before max_epochs='
                f'{max_epochs}: no iteration would train subnets.')
        if self.begin_iter and self.begin_iter >= runner.max_iters:
            raise ValueError(
                f'begin_iter={self.begin_iter} is not before max_iters='
                f'{runner.max_iters}: no iteration would train subnets.')
        sampler = self.sampler = build_subnet_sampler(runner)
        if sampler.num_subnets == 0:
            runner.logger.info('SubnetSamplingHook: num_subnets=0, training '
                               'the full network only (plain training).')
        else:
            runner.logger.info(
                f'SubnetSamplingHook: {sampler.num_subnets} subnets per '
                f'iteration, rule={sampler.rule!r} '
                f'({sampler.num_subnets_in_space() or "mask"} subnets in '
                f'the space), seed={sampler.seed}, '
                f'kl_schedule={self.kl_schedule}.')

    def kl_weight(self, iteration: int, max_iters: int,
                  start_iter: int = 0) -> float:
        """The schedule's KL weight, in [0, 1], at ``iteration`` of
        ``max_iters``; ``start_iter`` is the first with subnets."""
        if self.kl_schedule == 'constant':
            return 1.0
        span = max(max_iters - 1 - start_iter, 1)
        progress = min(max((iteration - start_iter) / span, 0.0), 1.0)
        cosine = math.cos(math.pi * progress)
        if self.kl_schedule == 'cosine_up':
            return (1.0 - cosine) / 2.0
        return (1.0 + cosine) / 2.0

    def first_iter(self, runner) -> int:
        """The first iteration with subnets."""
        try:
            iters_per_epoch = len(runner.train_dataloader)
        except TypeError:
            iters_per_epoch = 0
        return max(self.begin_iter, self.begin_epoch * iters_per_epoch)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Hand the iteration's subnets and KL weight to the model."""
        model = stimulative_model(runner.model)
        start = self.first_iter(runner)
        if runner.iter < start or runner.epoch < self.begin_epoch:
            model.set_subnets([], 0.0)
            return
        model.set_subnets(
            self.sampler.draws(runner.iter),
            self.kl_weight(runner.iter, runner.max_iters, start))


def stimulative_model(model: nn.Module) -> nn.Module:
    """The ``StimulativeClassifier`` of a possibly wrapped model; raises a
    TypeError for other models and wrappers that bypass its ``train_step``.
    """
    from mmstim.models import StimulativeClassifier
    from mmstim.models.wrappers import StimulativeDDP
    if is_model_wrapper(model):
        if not isinstance(model, StimulativeDDP):
            raise TypeError(
                f'The model is wrapped in {type(model).__name__}, whose '
                f'train_step does not run StimulativeClassifier.train_step: '
                f'the run would silently be plain training. Set '
                f"model_wrapper_cfg=dict(type='StimulativeDDP').")
        model = model.module
    if not isinstance(model, StimulativeClassifier):
        raise TypeError(
            f'SubnetSamplingHook needs a StimulativeClassifier; the model is '
            f"a {type(model).__name__}. Set model.type='StimulativeClassifier'"
            f'.')
    return model


def is_sampling_hook(entry: dict) -> bool:
    """Whether a ``custom_hooks`` entry's registered class is (a subclass
    of) :class:`SubnetSamplingHook`; scoped types count."""
    hook_type = entry.get('type')
    cls = HOOKS.get(hook_type) if isinstance(hook_type, str) else hook_type
    return isinstance(cls, type) and issubclass(cls, SubnetSamplingHook)


def sampling_hook_config(cfg: Config) -> Optional[dict]:
    """The ``SubnetSamplingHook`` entry of a config's ``custom_hooks``."""
    hooks = [hook for hook in cfg.get('custom_hooks', None) or []
             if is_sampling_hook(hook)]
    if len(hooks) > 1:
        raise ValueError(f'The config has {len(hooks)} SubnetSamplingHooks; '
                         f'one owns the subnets.')
    return dict(hooks[0]) if hooks else None


def hooks_without_sampling(cfg: Config) -> List[dict]:
    """A config's ``custom_hooks`` without its ``SubnetSamplingHook``, e.g.
    for a plain model exported from a stimulatively trained one."""
    return [hook for hook in cfg.get('custom_hooks', None) or []
            if not is_sampling_hook(hook)]


def build_subnet_sampler(source: Union[Config, Any],
                         model: Optional[nn.Module] = None,
                         rule: Optional[Rule] = None) -> SubnetSampler:
    """The subnet sampler of a run, from its config or its runner.

    The one place that knows where the sampling settings live: the
    ``SubnetSamplingHook`` (of the runner, or its ``custom_hooks`` entry).
    A hook without ``seed`` takes the runner's seed broadcast from rank 0,
    or the config's ``randomness.seed``. A run without the hook (a plain
    baseline) gets the ``'default'`` rule with 0 subnets per iteration.

    Args:
        source (Config | Runner): The run's config, or its runner (anything
            else is taken for a runner).
        model (nn.Module, optional): The classifier; required with a config.
        rule (str | list, optional): Overrides the hook's rule.
    """
    if not isinstance(source, Config):
        hook = next((h for h in source.hooks
                     if isinstance(h, SubnetSamplingHook)), None)
        settings = dict(hook.sampler_settings) if hook else {}
        model = source.model
        if settings.get('seed') is None:
            seed = [source.seed]
            broadcast_object_list(seed, src=0)
            settings['seed'] = seed[0]
    else:
        if model is None:
            raise ValueError('build_subnet_sampler needs the model when '
                             'built from a config.')
        settings = sampling_hook_config(source) or {}
        for key in ('type', 'begin_epoch', 'begin_iter', 'kl_schedule'):
            settings.pop(key, None)
        if settings.get('seed') is None:
            settings['seed'] = (source.get('randomness', None)
                                or {}).get('seed')
        if settings['seed'] is None and settings.get('num_subnets', 0):
            raise ValueError(
                'The run set no seed (neither the SubnetSamplingHook nor '
                'randomness.seed), so its draws used a random one; find it '
                "in the run's log ('SubnetSamplingHook: ... seed=N') and "
                'pass it, e.g. --cfg-options randomness.seed=N.')
    settings.setdefault('num_subnets', 0)
    if settings.get('seed') is None:
        settings['seed'] = 0
    if rule is not None:
        settings['rule'] = rule
    if is_model_wrapper(model):
        model = model.module
    return SubnetSampler(find_residual_stages(model.backbone), **settings)


def list_draws(sampler: SubnetSampler, iterations: range,
               model: Optional[nn.Module] = None,
               input_side: Optional[int] = None) -> List[dict]:
    """The subnets a run drew at some iterations, listed after the fact.

    Args:
        sampler (SubnetSampler): From :func:`build_subnet_sampler`.
        iterations (range): The iterations to list.
        model (nn.Module, optional): The classifier; with ``input_side`` (of
            the training inputs), each subnet's input side is listed too.

    Returns:
        list[dict]: Per iteration and subnet: ``iter``, ``k``, ``depths``,
        ``mask`` (0/1 per block), ``resize_u`` and, when known, ``side``.
    """
    rows = []
    for iteration in iterations:
        draws = sampler.draws(iteration)
        sides = (model.subnet_sides(draws, input_side)
                 if model is not None and input_side else [None] * len(draws))
        for k, (draw, side) in enumerate(zip(draws, sides)):
            row = dict(iter=iteration, k=k, depths=list(draw.depths),
                       mask=[[int(b) for b in m] for m in draw.mask],
                       resize_u=draw.resize_u)
            if side is not None:
                row['side'] = side
            rows.append(row)
    return rows
