# Copyright (c) mmstim contributors. All rights reserved.
"""Train a small ResNet with ST++ on Fashion-MNIST (CPU) and print a table.

    python tools/demo.py [--config CONFIG] [--epochs N] [--train-size N]
        [--work-dir DIR] [--recalibration-images N]

The table (from :class:`SubnetTestLoop`) holds the full network's top-1 on
the 10k test images and the accuracy of every subnet of the sampling rule,
without and with BN re-estimation on training images.
"""
import argparse
import os.path as osp
import sys
import time

import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import TOP1, evaluate_subnets
from mmstim.engine.runner.subnet_test_loop import loafing_table
from mmstim.utils.launch import check_data_roots

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'fashion_mnist',
                          'resnet14_stpp_fashion-mnist.py')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument(
        '--train-size', type=int, default=30000,
        help='first N training images (0 = all 60000)')
    parser.add_argument(
        '--recalibration-images', type=int, default=2000,
        help='training images for the BN recalibration of each subnet')
    parser.add_argument(
        '--work-dir', default=osp.join(REPO, 'work_dirs', 'demo'))
    parser.add_argument(
        '--threads', type=int,
        help="torch's intra-op threads (default: torch's choice); 1 is "
        'faster when the other cores are busy')
    return parser.parse_args(argv)


def demo_config(args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    cfg.train_cfg.max_epochs = args.epochs
    cfg.train_cfg.val_interval = args.epochs
    cfg.param_scheduler.T_max = args.epochs
    if args.train_size:
        cfg.train_dataloader.dataset.indices = args.train_size
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = osp.join(REPO, 'data',
                                                 'fashion_mnist')
    cfg.default_hooks.checkpoint.interval = args.epochs
    return cfg


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = demo_config(args)
    try:
        check_data_roots(cfg)
    except FileNotFoundError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    train_minutes = (time.time() - start) / 60
    print('\nevaluating the full network and every subnet ...')
    results, metrics = evaluate_subnets(
        cfg, runner=runner, split='test',
        recalibration_images=args.recalibration_images)
    print(f'\nST++ on Fashion-MNIST: {osp.basename(args.config)}, '
          f'{args.epochs} epochs on {args.train_size or 60000} images, '
          f'{train_minutes:.1f} min of training')
    print(loafing_table(results))
    print(f'mean of {len(results) - 1} subnets: '
          f'{metrics["mean_subnet/" + TOP1]:.2f} '
          f'({metrics["mean_subnet/recal/" + TOP1]:.2f} with BN '
          f're-estimated)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
