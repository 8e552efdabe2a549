# Copyright (c) mmstim contributors. All rights reserved.
"""Means, standard deviations and paired differences over seeds."""
from typing import Dict, Optional, Sequence

import numpy as np


def mean_std(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation of some values.

    Returns:
        dict: ``mean`` (None without values), ``std`` (ddof 1; None for
        fewer than two values) and ``n``.
    """
    return dict(
        mean=float(np.mean(values)) if len(values) else None,
        std=float(np.std(values, ddof=1)) if len(values) > 1 else None,
        n=len(values))


def paired_difference(values: Dict[str, float],
                      reference: Dict[str, float]) -> dict:
    """``values - reference`` per seed, over the seeds both have.

    Runs of one seed share the initial weights and the data order, so the
    per-seed difference is less noisy than the difference of the means.

    Returns:
        dict: :func:`mean_std` of the differences, and ``seeds``.
    """
    seeds = sorted(set(values) & set(reference), key=str)
    return dict(mean_std([values[s] - reference[s] for s in seeds]),
                seeds=seeds)


def format_mean_std(stats: Optional[dict], digits: int = 2,
                    sign: str = '') -> str:
    """``mean ± std``, ``mean`` without a std, or ``n/a`` without a mean.

    Args:
        stats (dict, optional): ``mean`` and ``std``, e.g. of
            :func:`mean_std`.
        digits (int): Digits after the point.
        sign (str): ``'+'`` writes the sign of a positive mean too.
    """
    if not stats or stats.get('mean') is None:
        return 'n/a'
    std = stats.get('std')
    return f'{stats["mean"]:{sign}.{digits}f}' + (
        '' if std is None else f' ± {std:.{digits}f}')
