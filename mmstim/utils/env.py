# Copyright (c) mmstim contributors. All rights reserved.
"""Checks of the installed OpenMMLab stack that say how to fix it.

Classification needs only mmcv's Python part (``mmcv-lite`` serves);
MMDet's detectors also need mmcv's compiled ops (``mmcv.ops``).
"""
import importlib
from importlib import metadata
from typing import Dict, Optional

from mmengine.utils import digit_version

MMCV_MIN = '2.0.0'
MMCV_MAX = '2.2.0'  # exclusive: MMDet 3.3 refuses mmcv >= 2.2.0

MMCV_FIX = (
    'Run `make setup` in the mmstim repository (mmcv-lite 2.1.0, enough '
    'for classification) or `make setup-det` (mmcv 2.1.0 with its compiled '
    'ops); in your own environment, `pip install mmcv-lite==2.1.0`, or '
    "`mim install \"mmcv>=2.0.0,<2.2.0\"` where OpenMMLab's wheel index is "
    'reachable.')
OPS_FIX = (
    'Add them with `make setup-det` in the mmstim repository: it compiles '
    'mmcv 2.1.0 with its ops once (about 34 minutes on 2 cores; MAX_JOBS '
    'sets the parallel jobs) and keeps the wheel, so later setups take '
    'seconds. Classification needs no ops.')


class MissingMmcvOpsError(RuntimeError):
    """mmcv's compiled ops, which MMDet's detectors need, do not load."""


def _installed(distribution: str) -> Optional[str]:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def mmcv_ops_available() -> bool:
    """Whether mmcv's compiled ops (``mmcv.ops``) import."""
    try:
        importlib.import_module('mmcv.ops')
    except (ImportError, OSError):
        return False
    return True


def require_mmcv_ops(user: str) -> None:
    """Raise :class:`MissingMmcvOpsError` unless mmcv's compiled ops import.

    The message names ``user`` (what needs the ops, e.g.
    ``'tools/det/train.py'``), what is installed and how to add the ops.
    """
    if mmcv_ops_available():
        return
    full, lite = _installed('mmcv'), _installed('mmcv-lite')
    if full is not None:
        found = (f'mmcv {full}, whose compiled ops do not load (built '
                 'against another torch?)')
    elif lite is not None:
        found = f'mmcv-lite {lite}, which has no compiled ops'
    else:
        found = 'no mmcv'
    raise MissingMmcvOpsError(
        f"{user} needs mmcv's compiled ops (mmcv.ops: NMS, RoIAlign and "
        f"the other operators of MMDet's detectors); this environment has "
        f'{found}. {OPS_FIX}')


def check_mmcv(require_ops: bool = True) -> str:
    """Check that a usable mmcv is installed; return its version.

    ``require_ops`` also requires mmcv's compiled ops, which MMDet's
    detectors need; without them ``mmcv-lite`` serves.

    Raises:
        RuntimeError: mmcv is missing or outside [2.0.0, 2.2.0); the
            message says how to fix it.
        MissingMmcvOpsError: ``require_ops`` and the ops do not load.
    """
    full, lite = _installed('mmcv'), _installed('mmcv-lite')
    if full is None and lite is None:
        raise RuntimeError(f'Found no mmcv. {MMCV_FIX}')
    name, version = ('mmcv', full) if full is not None else ('mmcv-lite', lite)
    if not (digit_version(MMCV_MIN) <= digit_version(version) <
            digit_version(MMCV_MAX)):
        raise RuntimeError(
            f'Found {name} {version}; mmstim needs mmcv>={MMCV_MIN},'
            f'<{MMCV_MAX} (MMDet 3.3 refuses mmcv>={MMCV_MAX}). {MMCV_FIX}')
    if require_ops:
        require_mmcv_ops('Detection with MMDet')
    return version


def collect_versions() -> Dict[str, Optional[str]]:
    """Return the installed versions of the packages mmstim depends on."""
    names = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmcv-lite',
             'mmpretrain', 'mmdet', 'mmstim')
    return {name: _installed(name) for name in names}
