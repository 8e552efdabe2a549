# Copyright (c) mmstim contributors. All rights reserved.
import json
import math
import os.path as osp
from typing import Optional

from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from mmstim.models.subnets import SubnetSampler
from mmstim.models.subnets.sampler import Rule

KL_SCHEDULES = ('constant', 'cosine_up', 'cosine_down')


@HOOKS.register_module()
class SubnetSamplingHook(Hook):
    """Choose the subnets of every stimulative-training iteration.

    Before each training iteration the hook draws ``num_subnets`` subnets
    (and the uniform numbers that fix their input sides) by the sampling
    rule and hands them to the ``StimulativeClassifier``. The draws are a
    pure function of ``(seed, iteration, k)``, with the seed broadcast from
    rank 0, so all ranks agree and a resumed run draws exactly what the
    uninterrupted run drew. Every iteration's draws, with the input sides
    actually used, are appended to ``subnet_draws.jsonl`` in the log dir.

    Args:
        rule (str | list): Sampling rule, see :class:`SubnetSampler`.
            Defaults to ``'default'``.
        num_subnets (int): Subnets per iteration (the paper uses 6); 0 means
            explicitly plain training. Defaults to 1.
        begin_epoch (int): First epoch with subnets. Defaults to 0.
        begin_iter (int): First iteration with subnets. Defaults to 0.
        kl_schedule (str): Weight of the KL loss over training:
            ``'constant'``, ``'cosine_up'`` (0 to 1) or ``'cosine_down'``
            (1 to 0), from the first iteration with subnets to the last.
            Defaults to ``'constant'``.
        min_keep_prob (float): Last block's keep probability for the
            ``'stochastic_depth'`` rule. Defaults to 0.8.
        seed (int, optional): Seed of the draws; None takes the runner's
            seed (rank 0's). Defaults to None.
        log_draws (bool): Write every iteration's draws to
            ``subnet_draws.jsonl``. Defaults to True.
    """

    priority = 'NORMAL'

    def __init__(self,
                 rule: Rule = 'default',
                 num_subnets: int = 1,
                 begin_epoch: int = 0,
                 begin_iter: int = 0,
                 kl_schedule: str = 'constant',
                 min_keep_prob: float = 0.8,
                 seed: Optional[int] = None,
                 log_draws: bool = True):
        if not isinstance(num_subnets, int) or num_subnets < 0:
            raise ValueError(f'num_subnets must be an integer >= 0 (0 means '
                             f'plain training), got {num_subnets!r}.')
        if begin_epoch < 0 or begin_iter < 0:
            raise ValueError(f'begin_epoch and begin_iter must be >= 0, got '
                             f'{begin_epoch} and {begin_iter}.')
        if kl_schedule not in KL_SCHEDULES:
            raise ValueError(f'kl_schedule={kl_schedule!r} is not supported; '
                             f'allowed: {KL_SCHEDULES}.')
        self.rule = rule
        self.num_subnets = num_subnets
        self.begin_epoch = begin_epoch
        self.begin_iter = begin_iter
        self.kl_schedule = kl_schedule
        self.min_keep_prob = min_keep_prob
        self.seed = seed
        self.log_draws = log_draws
        self.sampler: Optional[SubnetSampler] = None

    @staticmethod
    def _stimulative_model(runner):
        from mmstim.models import StimulativeClassifier
        from mmstim.models.wrappers import StimulativeDDP
        model = runner.model
        if is_model_wrapper(model):
            if not isinstance(model, StimulativeDDP):
                raise TypeError(
                    f'The model is wrapped in {type(model).__name__}, whose '
                    f'train_step does not run StimulativeClassifier.'
                    f'train_step: the run would silently be plain training. '
                    f"Set model_wrapper_cfg=dict(type='StimulativeDDP').")
            model = model.module
        if not isinstance(model, StimulativeClassifier):
            raise TypeError(
                f'SubnetSamplingHook needs a StimulativeClassifier; the '
                f'model is a {type(model).__name__}. Set '
                f"model.type='StimulativeClassifier'.")
        return model

    def before_train(self, runner) -> None:
        """Validate the rule against the model and fix the seed."""
        model = self._stimulative_model(runner)
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
        self.sampler = SubnetSampler(
            model.residual_stages, self.rule, min_keep_prob=self.min_keep_prob)
        seed = [self.seed if self.seed is not None else runner.seed]
        broadcast_object_list(seed, src=0)
        self.seed = int(seed[0])
        if self.num_subnets == 0:
            runner.logger.info('SubnetSamplingHook: num_subnets=0, training '
                               'the full network only (plain training).')
        else:
            runner.logger.info(
                f'SubnetSamplingHook: {self.num_subnets} subnets per '
                f'iteration, rule={self.rule!r} '
                f'({self.sampler.num_subnets_in_space() or "mask"} '
                f'subnets in the space), seed={self.seed}, '
                f'kl_schedule={self.kl_schedule}.')

    def _active(self, runner) -> bool:
        return runner.iter >= self.begin_iter and \
            runner.epoch >= self.begin_epoch

    def kl_weight(self, iteration: int, max_iters: int,
                  start_iter: int = 0) -> float:
        """KL weight of the schedule at an iteration.

        Args:
            iteration (int): The current iteration.
            max_iters (int): The number of training iterations.
            start_iter (int): The first iteration with subnets.

        Returns:
            float: The weight in [0, 1].
        """
        if self.kl_schedule == 'constant':
            return 1.0
        span = max(max_iters - 1 - start_iter, 1)
        progress = min(max((iteration - start_iter) / span, 0.0), 1.0)
        cosine = math.cos(math.pi * progress)
        if self.kl_schedule == 'cosine_up':
            return (1.0 - cosine) / 2.0
        return (1.0 + cosine) / 2.0

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Hand the iteration's subnets to the model."""
        model = self._stimulative_model(runner)
        if self.num_subnets == 0 or not self._active(runner):
            model.subnets = []
            return
        model.subnets = self.sampler.draw_iteration(self.seed, runner.iter,
                                                    self.num_subnets)
        start = max(self.begin_iter,
                    self.begin_epoch * self._iters_per_epoch(runner))
        model.kl_weight = self.kl_weight(runner.iter, runner.max_iters, start)

    @staticmethod
    def _iters_per_epoch(runner) -> int:
        try:
            return len(runner.train_dataloader)
        except TypeError:
            return 0

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Append the iteration's draws to ``subnet_draws.jsonl``."""
        model = self._stimulative_model(runner)
        if not self.log_draws or not model.subnets or not is_main_process():
            return
        record = dict(iter=runner.iter, kl_weight=model.kl_weight,
                      subnets=model.last_draws)
        with open(osp.join(runner.log_dir, 'subnet_draws.jsonl'), 'a') as f:
            f.write(json.dumps(record) + '\n')
