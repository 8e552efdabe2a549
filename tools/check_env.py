# Copyright (c) mmstim contributors. All rights reserved.
"""Check the environment mmstim runs in and print the versions found."""
import sys

from mmstim.utils.env import check_mmcv, collect_versions


def main() -> int:
    for name, version in collect_versions().items():
        print(f'  {name:12s} {version or "-"}')
    try:
        check_mmcv(require_ops=True)
        import mmdet  # noqa: F401  (asserts its own mmcv range)
        import mmpretrain  # noqa: F401
    except (RuntimeError, AssertionError, ImportError) as error:
        print(f'environment check failed: {error}', file=sys.stderr)
        return 1
    print('  environment OK: mmcv ops load, mmpretrain and mmdet import')
    return 0


if __name__ == '__main__':
    sys.exit(main())
