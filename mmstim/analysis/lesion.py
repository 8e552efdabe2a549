# Copyright (c) mmstim contributors. All rights reserved.
"""Lesion studies: accuracy after deleting residual blocks.

A deleted block acts as the identity (as a dropped block of a subnet does);
only blocks with an identity shortcut, never the first of a stage, can be
deleted.
"""
import itertools
import math
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from mmstim.models.subnets import Mask, ResidualStage, full_mask, to_mask

#: A block as (stage index, block index within the stage).
Block = Tuple[int, int]


def droppable_blocks(stages: Sequence[ResidualStage]) -> List[Block]:
    """(stage index, block index) of the deletable blocks, in forward
    order: those with an identity shortcut, not the first of their stage."""
    return [(s, b) for s, stage in enumerate(stages)
            for b, skippable in enumerate(stage.skippable) if skippable]


def block_name(stages: Sequence[ResidualStage], block: Block) -> str:
    """Name of a block in the backbone, e.g. ``'layer2.1'``."""
    stage, index = block
    return f'{stages[stage].name}.{index}'


def lesion_mask(stages: Sequence[ResidualStage],
                deleted: Iterable[Block]) -> Mask:
    """The validated keep-mask of the full network with ``deleted`` blocks
    deleted.

    Raises:
        ValueError: A block does not exist or cannot be deleted.
    """
    mask = [list(stage_mask) for stage_mask in full_mask(stages)]
    for stage, index in deleted:
        if not (0 <= stage < len(mask) and 0 <= index < len(mask[stage])):
            raise ValueError(
                f'Block ({stage}, {index}) does not exist; stage depths are '
                f'{[len(m) for m in mask]}.')
        mask[stage][index] = False
    return to_mask(stages, mask)


def random_block_sets(blocks: Sequence[Block], k: int, draws: int,
                      seed: int) -> Tuple[List[Tuple[Block, ...]], bool]:
    """Choose ``draws`` sets of ``k`` distinct blocks to delete.

    The sets of each ``k`` depend only on ``seed`` and ``k``.

    Returns:
        tuple[list, bool]: The sets (each sorted in forward order, all
        distinct) and whether they are every combination (when there are
        at most ``draws`` combinations).

    Raises:
        ValueError: ``k`` or ``draws`` is out of range.
    """
    if not 1 <= k <= len(blocks):
        raise ValueError(f'k={k}: between 1 and the {len(blocks)} droppable '
                         f'blocks can be deleted.')
    if draws < 1:
        raise ValueError(f'draws must be >= 1, got {draws}.')
    if math.comb(len(blocks), k) <= draws:
        return list(itertools.combinations(blocks, k)), True
    rng = np.random.default_rng([int(seed) % 2**32, k])
    chosen: List[Tuple[Block, ...]] = []
    while len(chosen) < draws:
        picks = sorted(rng.choice(len(blocks), k, replace=False))
        candidate = tuple(blocks[i] for i in picks)
        if candidate not in chosen:
            chosen.append(candidate)
    return chosen, False


def lesion_study(stages: Sequence[ResidualStage],
                 evaluate: Callable[[List[Mask]], List[dict]],
                 max_k: Optional[int] = None,
                 draws: int = 5,
                 seed: int = 0) -> dict:
    """Accuracy after deleting single blocks and random sets of blocks.

    Every distinct keep-mask is evaluated once, so a set drawn twice or
    equal to a single deletion costs nothing more.

    Args:
        evaluate (Callable): Evaluates keep-masks, returning one entry per
            mask in order with ``top1`` (and optionally
            ``top1_recalibrated``).
        max_k (int, optional): Largest number of blocks deleted at random
            (k = 1..max_k); None: all droppable blocks.
        draws (int): Seeded random sets per k (every combination when
            there are no more).
        seed (int): Seed of the random sets.

    Returns:
        dict: ``full`` (the intact network's entry), ``droppable`` (names of
        the droppable blocks), ``single`` (one entry per droppable block,
        with ``deleted``, ``names`` and ``drop``, the fall in top-1 from the
        full network) and ``random`` (per k: ``k``, ``exhaustive``,
        ``draws`` entries, ``mean_top1``, ``std_top1`` and, with
        recalibration, the same of ``top1_recalibrated``).

    Raises:
        ValueError: The backbone has no droppable block or ``max_k`` is out
            of range.
    """
    blocks = droppable_blocks(stages)
    if not blocks:
        raise ValueError('The backbone has no droppable block (every stage '
                         'has a single block or only projection shortcuts).')
    max_k = len(blocks) if max_k is None else max_k
    if not 1 <= max_k <= len(blocks):
        raise ValueError(f'max_k={max_k}: between 1 and the {len(blocks)} '
                         f'droppable blocks can be deleted.')
    singles = [(block, ) for block in blocks]
    per_k = {
        k: random_block_sets(blocks, k, draws, seed)
        for k in range(1, max_k + 1)
    }
    sets = [()] + singles + [s for sets_k, _ in per_k.values()
                             for s in sets_k]
    masks = list(dict.fromkeys(lesion_mask(stages, s) for s in sets))
    by_mask = dict(zip(masks, evaluate(masks)))

    def entry(deleted: Tuple[Block, ...]) -> dict:
        result = dict(by_mask[lesion_mask(stages, deleted)])
        result['deleted'] = [list(block) for block in deleted]
        result['names'] = [block_name(stages, block) for block in deleted]
        return result

    full = entry(())
    single = [entry(s) for s in singles]
    for item in single:
        item['drop'] = full['top1'] - item['top1']
    random = []
    for k, (sets_k, exhaustive) in per_k.items():
        entries = [entry(s) for s in sets_k]
        summary = dict(k=k, exhaustive=exhaustive, draws=entries)
        for key in ('top1', 'top1_recalibrated'):
            values = [e[key] for e in entries if key in e]
            if values:
                summary[f'mean_{key}'] = float(np.mean(values))
                summary[f'std_{key}'] = float(np.std(values))
        random.append(summary)
    return dict(
        full=full,
        droppable=[block_name(stages, b) for b in blocks],
        single=single,
        random=random)
