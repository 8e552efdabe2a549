# Copyright (c) mmstim contributors. All rights reserved.
"""Sampling rules for the subnets of stimulative training. Every draw is a
pure function of ``(seed, iteration, k)``: all ranks draw the same subnets,
and a resumed run draws what the uninterrupted one would have."""
from dataclasses import dataclass
from numbers import Integral
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .stages import Mask, ResidualStage, kept_depths, stage_depths, to_mask

#: The published ST++ ResNet-50 space: allowed kept depths per stage.
PAPER_RESNET50_SPACE = ((3, ), (3, 4), (3, 4, 5, 6), (3, ))
PAPER_STAGE_DEPTHS = (3, 4, 6, 3)

RULES = ('default', 'sandwich', 'paper', 'stochastic_depth',
         'an explicit list of allowed kept depths per stage')

Rule = Union[str, Sequence[Sequence[int]]]


@dataclass(repr=False)
class SubnetDraw:
    """One drawn subnet: its keep-mask and the uniform number in [0, 1)
    that chooses its input side (see :class:`RandomSubnetResize`)."""

    mask: Mask
    resize_u: float

    @property
    def depths(self) -> Tuple[int, ...]:
        """Number of kept blocks per stage."""
        return kept_depths(self.mask)

    def __repr__(self) -> str:
        return f'SubnetDraw(depths={self.depths}, resize_u={self.resize_u})'


class SubnetSampler:
    """Draws depth subnets of a residual network by an inter-stage rule.

    Args:
        stages (Sequence[ResidualStage]): The backbone's residual stages.
        rule (str | Sequence[Sequence[int]]): Which subnets may be drawn;
            depth rules draw each stage's depth uniformly and independently:

            - ``'default'``: every stage keeps 1 or more of its first blocks;
            - ``'sandwich'``: as ``'default'`` (the same draws), but the
              first subnet of every iteration is the shallowest (BigNAS);
            - ``'paper'``: the published ST++ ResNet-50 space (stage 2 keeps
              3-4 blocks, stage 3 keeps 3-6, the others are intact);
            - per stage, the allowed kept depths, e.g. ``[[3], [3, 4]]``;
            - ``'stochastic_depth'``: each droppable block is kept with a
              probability falling linearly over the depth from 1 to
              ``min_keep_prob`` at the last block.
        num_subnets (int): Subnets per iteration.
        seed (int): Seed of the draws (the same on every rank).
        min_keep_prob (float): Last block's keep probability for
            ``'stochastic_depth'``.
    """

    def __init__(self, stages: Sequence[ResidualStage], rule: Rule = 'default',
                 num_subnets: int = 1, seed: int = 0,
                 min_keep_prob: float = 0.8):
        if not isinstance(num_subnets, Integral) or num_subnets < 0:
            raise ValueError(f'num_subnets must be an integer >= 0 (0 means '
                             f'plain training), got {num_subnets!r}.')
        self.stages = list(stages)
        self.rule = rule
        self.num_subnets = int(num_subnets)
        self.seed = int(seed)
        self.min_keep_prob = min_keep_prob
        self.sandwich = isinstance(rule, str) and rule == 'sandwich'
        depths = stage_depths(self.stages)
        if isinstance(rule, str) and rule == 'stochastic_depth':
            self.allowed_depths = None
            self._keep_probs = self._linear_keep_probs(min_keep_prob)
            if all(p >= 1.0 for stage in self._keep_probs for p in stage):
                raise ValueError(
                    f'Rule stochastic_depth with min_keep_prob='
                    f'{min_keep_prob} and stage depths {depths} never drops '
                    f'a block: it allows only the full network.')
        else:
            self.allowed_depths = self._depth_space(rule, depths)

    def _depth_space(self, rule: Rule,
                     depths: Tuple[int, ...]) -> Tuple[Tuple[int, ...], ...]:
        if isinstance(rule, str):
            if rule in ('default', 'sandwich'):
                space = tuple(tuple(range(1, d + 1)) for d in depths)
            elif rule == 'paper':
                if depths != PAPER_STAGE_DEPTHS:
                    raise ValueError(
                        f"Rule 'paper' is the published ResNet-50 space and "
                        f'needs stage depths {PAPER_STAGE_DEPTHS}; this '
                        f"backbone has {depths}. Use rule='default' (as the "
                        f'authors did for ResNet-101/152) or list the '
                        f'allowed depths per stage.')
                space = PAPER_RESNET50_SPACE
            else:
                raise ValueError(f'Unknown subnet rule {rule!r}; allowed: '
                                 f'{", ".join(RULES)}.')
        else:
            space = tuple(tuple(stage_rule) for stage_rule in rule)
        if len(space) != len(depths):
            raise ValueError(f'Rule {rule!r} has {len(space)} stages; the '
                             f'backbone has {len(depths)} with depths '
                             f'{depths}.')
        for index, (allowed, depth) in enumerate(zip(space, depths)):
            if not allowed:
                raise ValueError(f'Rule {rule!r}: stage {index} allows no '
                                 f'depth.')
            for value in allowed:
                if not isinstance(value, Integral) or not 1 <= value <= depth:
                    raise ValueError(
                        f'Rule {rule!r}: stage {index} allows depth '
                        f'{value!r}; allowed are 1 to {depth} (its number '
                        f'of blocks).')
        # validate every extreme subnet against droppable blocks
        to_mask(self.stages, tuple(min(a) for a in space))
        if all(set(a) == {d} for a, d in zip(space, depths)):
            raise ValueError(
                f'Rule {rule!r} allows only the full network (depths '
                f'{depths}): stimulative training would be plain training.')
        return tuple(tuple(sorted(set(int(v) for v in a))) for a in space)

    def _linear_keep_probs(self, min_keep_prob: float) -> List[List[float]]:
        if not 0.0 <= min_keep_prob <= 1.0:
            raise ValueError(f'min_keep_prob must be in [0, 1], got '
                             f'{min_keep_prob}.')
        total = sum(len(stage) for stage in self.stages)
        probs, index = [], 0
        for stage in self.stages:
            stage_probs = []
            for skippable in stage.skippable:
                fraction = index / max(total - 1, 1)
                keep = 1.0 - fraction * (1.0 - min_keep_prob)
                stage_probs.append(keep if skippable else 1.0)
                index += 1
            probs.append(stage_probs)
        return probs

    def num_subnets_in_space(self) -> Optional[int]:
        """Number of distinct subnets of a depth rule (None for masks)."""
        if self.allowed_depths is None:
            return None
        return int(np.prod([len(a) for a in self.allowed_depths]))

    def draw(self, iteration: int, k: int) -> SubnetDraw:
        """Draw the ``k``-th subnet of a (global) training iteration."""
        rng = np.random.default_rng([self.seed % 2**32, int(iteration), k])
        if self.allowed_depths is not None:
            depths = tuple(
                int(allowed[rng.integers(len(allowed))])
                for allowed in self.allowed_depths)
            if self.sandwich and k == 0:
                depths = tuple(allowed[0] for allowed in self.allowed_depths)
            mask = to_mask(self.stages, depths)
        else:
            mask = tuple(
                tuple(bool(rng.random() < p) for p in stage_probs)
                for stage_probs in self._keep_probs)
        return SubnetDraw(mask, float(rng.random()))

    def draws(self, iteration: int) -> List[SubnetDraw]:
        """Draw the ``num_subnets`` subnets of an iteration."""
        return [self.draw(iteration, k) for k in range(self.num_subnets)]

    def expected_kept_fraction(self) -> List[List[float]]:
        """Probability that each block is kept, per stage and block."""
        if self.allowed_depths is None:
            return [list(p) for p in self._keep_probs]
        fractions = [[
            sum(d > i for d in allowed) / len(allowed)
            for i in range(len(stage))
        ] for allowed, stage in zip(self.allowed_depths, self.stages)]
        if self.sandwich and self.num_subnets:
            # one subnet of num_subnets is the shallowest
            n = self.num_subnets
            fractions = [[((n - 1) * f + (i < allowed[0])) / n
                          for i, f in enumerate(stage)]
                         for stage, allowed in zip(fractions,
                                                   self.allowed_depths)]
        return fractions
