# Copyright (c) mmstim contributors. All rights reserved.
"""Decide which mmcv the installer puts into the environment.

Classification (MMPretrain) needs only mmcv's Python part, which PyPI ships
as the pure-Python ``mmcv-lite`` wheel; MMDet's detectors also need mmcv's
compiled ops (``mmcv.ops``), and PyPI has no mmcv wheel for this torch, so
they are compiled from the source archive once and the wheel is cached.

The installer (``install/setup_env.sh``) runs this file with the
environment's interpreter before mmstim is installed, so it uses the
standard library only. It prints shell assignments for the installer::

    MMCV_ACTION=install-lite
    MMCV_REMOVE=mmcv
    MMCV_REASON='...'

Examples:
    >>> plan_mmcv(mmcv=None, mmcv_lite=None, ops_load=False,
    ...           with_ops=False, cached_wheel=False).action
    'install-lite'
"""
import argparse
import re
import shlex
import subprocess
import sys
from importlib import metadata
from typing import NamedTuple, Optional, Sequence, Tuple

#: The mmcv version the installer installs (as mmcv-lite or compiled).
MMCV_VERSION = '2.1.0'
#: The mmcv versions mmstim accepts: MMDet 3.3 refuses mmcv >= 2.2.0.
MMCV_MIN = '2.0.0'
MMCV_MAX = '2.2.0'  # exclusive

#: What the installer does with mmcv.
KEEP = 'keep'  # leave the installed mmcv as it is
INSTALL_LITE = 'install-lite'  # pip install mmcv-lite==MMCV_VERSION
INSTALL_WHEEL = 'install-wheel'  # install the cached, compiled mmcv wheel
COMPILE = 'compile'  # compile mmcv's ops, cache the wheel, install it


class MmcvPlan(NamedTuple):
    """What the installer does with mmcv.

    Attributes:
        action (str): One of ``keep``, ``install-lite``, ``install-wheel``
            and ``compile``.
        remove (tuple[str]): Distributions to uninstall before installing
            (``mmcv`` and ``mmcv-lite`` share the files of the ``mmcv``
            package, so one is removed before the other is installed).
        reason (str): One sentence for the installer's output.
    """
    action: str
    remove: Tuple[str, ...]
    reason: str


def version_tuple(version: str) -> Tuple[int, ...]:
    """The release numbers of a version string.

    Args:
        version (str): A version such as ``'2.1.0'``, ``'2.0.0rc4'`` or
            ``'2.14.1+cpu'``.

    Returns:
        tuple[int]: Its first three numbers, e.g. ``(2, 0, 0)``.
    """
    return tuple(int(part) for part in re.findall(r'\d+', version)[:3])


def in_range(version: str) -> bool:
    """Whether mmstim accepts an mmcv version (``>=2.0.0,<2.2.0``)."""
    return (version_tuple(MMCV_MIN) <= version_tuple(version) <
            version_tuple(MMCV_MAX))


def plan_mmcv(mmcv: Optional[str], mmcv_lite: Optional[str], ops_load: bool,
              with_ops: bool, cached_wheel: bool) -> MmcvPlan:
    """Decide what the installer does with mmcv.

    An mmcv in mmstim's range whose ops load is kept whatever is asked, so
    an environment with its own full mmcv is never downgraded. A cached
    compiled wheel is installed wherever it is needed or helps (it takes
    seconds); without one, only ``with_ops`` compiles.

    Args:
        mmcv (str, optional): The installed version of the ``mmcv``
            distribution (the one with compiled ops), None if absent.
        mmcv_lite (str, optional): The installed version of ``mmcv-lite``,
            None if absent.
        ops_load (bool): Whether ``import mmcv.ops`` succeeds.
        with_ops (bool): Whether the compiled ops are asked for (detection).
        cached_wheel (bool): Whether a compiled mmcv wheel for this torch
            and Python is in the installer's wheel cache.

    Returns:
        MmcvPlan: The action, what to uninstall first, and why.
    """
    full_in_range = mmcv is not None and in_range(mmcv)
    if full_in_range and ops_load:
        return MmcvPlan(KEEP, (), f'mmcv {mmcv} with its compiled ops is '
                        'installed')
    remove = tuple(name for name, version in (('mmcv-lite', mmcv_lite),
                                              ('mmcv', mmcv))
                   if version is not None)
    if cached_wheel:
        return MmcvPlan(
            INSTALL_WHEEL, remove,
            f'installing the cached compiled mmcv {MMCV_VERSION} wheel')
    if with_ops:
        return MmcvPlan(
            COMPILE, remove, f'compiling mmcv {MMCV_VERSION} with its ops: '
            'no compiled wheel for this torch is cached')
    if full_in_range:
        return MmcvPlan(
            KEEP, (), f'mmcv {mmcv} is installed; its ops do not load, '
            'which classification does not need')
    if mmcv is None and mmcv_lite == MMCV_VERSION:
        return MmcvPlan(KEEP, (), f'mmcv-lite {mmcv_lite} is installed')
    found = f'mmcv {mmcv}, outside >={MMCV_MIN},<{MMCV_MAX}' if mmcv else (
        f'mmcv-lite {mmcv_lite}' if mmcv_lite else 'no mmcv')
    return MmcvPlan(
        INSTALL_LITE, remove, f'found {found}: installing mmcv-lite '
        f'{MMCV_VERSION} (no compiled ops, no compiling)')


def installed(distribution: str) -> Optional[str]:
    """The installed version of a distribution, None if absent."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def mmcv_ops_load() -> bool:
    """Whether ``import mmcv.ops`` succeeds, tried in a fresh interpreter
    (its compiled extension cannot be unloaded again)."""
    result = subprocess.run([sys.executable, '-c', 'import mmcv.ops'],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return result.returncode == 0


def shell_assignments(plan: MmcvPlan) -> str:
    """The plan as shell assignments the installer evaluates."""
    return '\n'.join([
        f'MMCV_ACTION={shlex.quote(plan.action)}',
        f'MMCV_REMOVE={shlex.quote(" ".join(plan.remove))}',
        f'MMCV_REASON={shlex.quote(plan.reason)}',
    ])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the plan for the environment of the running interpreter."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--with-ops',
        action='store_true',
        help='the compiled ops are asked for (detection)')
    parser.add_argument(
        '--cached-wheel',
        default='',
        help='path of the cached compiled mmcv wheel, empty if none')
    args = parser.parse_args(argv)
    mmcv, mmcv_lite = installed('mmcv'), installed('mmcv-lite')
    ops_load = (mmcv is not None or mmcv_lite is not None) and mmcv_ops_load()
    plan = plan_mmcv(mmcv, mmcv_lite, ops_load, args.with_ops,
                     bool(args.cached_wheel))
    print(shell_assignments(plan))
    return 0


if __name__ == '__main__':
    sys.exit(main())
