# Copyright (c) mmstim contributors. All rights reserved.
"""Check the environment mmstim runs in and print the versions found."""
import argparse
import sys
import warnings


def main(argv=None) -> int:
    """Print the versions; return 1 when the environment is not usable."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        '--require-ops',
        action='store_true',
        help="fail unless mmcv's compiled ops load (detection needs them)")
    args = parser.parse_args(argv)
    # mmcv-lite warns on import that one of its ops is missing; the ops'
    # status is reported below, so mmstim is imported after the filter.
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    from mmstim.utils.env import (check_mmcv, collect_versions,
                                  mmcv_ops_available)
    for name, version in collect_versions().items():
        print(f'  {name:12s} {version or "-"}')
    try:
        check_mmcv(require_ops=args.require_ops)
        import mmdet  # noqa: F401  (asserts its own mmcv range)
        import mmpretrain  # noqa: F401
    except (RuntimeError, AssertionError, ImportError) as error:
        print(f'environment check failed: {error}', file=sys.stderr)
        return 1
    if mmcv_ops_available():
        print('  environment OK: mmcv ops load, mmpretrain and mmdet import')
    else:
        print('  environment OK for classification: mmpretrain and mmdet '
              "import; mmcv's compiled ops are missing, which detection "
              'needs (`make setup-det` adds them, 34 minutes on 2 cores)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
