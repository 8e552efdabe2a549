# Copyright (c) mmstim contributors. All rights reserved.
"""Checks of the installed OpenMMLab stack, with messages that say how to
fix it."""
from importlib import metadata
from typing import Dict, Optional

from mmengine.utils import digit_version

MMCV_MIN = '2.0.0'
MMCV_MAX = '2.2.0'  # exclusive: MMDet 3.3 refuses mmcv >= 2.2.0

MMCV_FIX = (
    'Install mmcv>=2.0.0,<2.2.0 with its compiled ops: run `make setup` in '
    'the mmstim repository (it builds mmcv 2.1.0 from source), or, where '
    "OpenMMLab's wheel index is reachable, "
    '`mim install "mmcv>=2.0.0,<2.2.0"`. Remove mmcv-lite first '
    '(`pip uninstall mmcv-lite`): it has no ops.')


def _installed(distribution: str) -> Optional[str]:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def check_mmcv(require_ops: bool = True) -> str:
    """Check that a usable mmcv is installed.

    Args:
        require_ops (bool): Also require mmcv's compiled ops (``mmcv.ops``),
            which MMDet's detectors need. Defaults to True.

    Returns:
        str: The installed mmcv version.

    Raises:
        RuntimeError: mmcv is missing, is mmcv-lite, is outside
            [2.0.0, 2.2.0) or has no compiled ops; the message says how to fix.
    """
    lite = _installed('mmcv-lite')
    full = _installed('mmcv')
    if full is None:
        found = f'mmcv-lite {lite} (no compiled ops)' if lite else 'no mmcv'
        raise RuntimeError(f'Found {found}. {MMCV_FIX}')
    if not (digit_version(MMCV_MIN) <= digit_version(full) <
            digit_version(MMCV_MAX)):
        raise RuntimeError(
            f'Found mmcv {full}; mmstim needs mmcv>={MMCV_MIN},<{MMCV_MAX} '
            f'(MMDet 3.3 refuses mmcv>={MMCV_MAX}). {MMCV_FIX}')
    if require_ops:
        try:
            from mmcv.ops import nms  # noqa: F401
        except (ImportError, OSError) as error:
            raise RuntimeError(
                f'mmcv {full} is installed but its compiled ops do not load '
                f'({error}); it was probably built against another torch. '
                f'{MMCV_FIX}') from error
    return full


def collect_versions() -> Dict[str, Optional[str]]:
    """Return the installed versions of the packages mmstim depends on."""
    names = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmcv-lite',
             'mmpretrain', 'mmdet', 'mmstim')
    return {name: _installed(name) for name in names}
