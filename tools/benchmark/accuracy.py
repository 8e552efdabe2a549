# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy of baseline, stochastic depth, ST and ST++ on Fashion-MNIST.

    python tools/benchmark/accuracy.py [--methods baseline droppath st stpp]
        [--epochs 10] [--seeds 0 1 2] [--train-size N] [--test-size N]
        [--recalibration-images 2000] [--quick] [--force]
        [--data-root data/fashion_mnist] [--work-dir DIR] [--num-workers N]
        [--threads N] [--merge RESULTS.json [...]]
        [--out-json benchmarks/results/fashion_mnist.json] [--out-md FILE]

Every method trains from its config in ``configs/fashion_mnist`` with the
same recipe and the same overrides (epochs, cosine period, seed, training
subset); the full network and every subnet of the default rule are then
evaluated on the test images, without and with BN recalibration.

Runs are resumable per (method, seed): each finished run is written to the
JSON at once (atomically) and skipped on the next invocation when it was
made with the same settings. A run whose training finished but whose
evaluation did not is evaluated from its checkpoint without training again
(the work dir's ``training.json`` records the training). The summary
(mean +- std) uses only the seeds finished for every method. ``--quick`` is
a smoke test of a few minutes: 1 epoch on 256 training images, 1 seed, 256
test images.

Runs made elsewhere (in parallel processes, on another machine or a GPU)
are brought together with ``--merge``: the runs of the given results files
are added to ``--out-json`` without training anything, and the summary and
table are written again.
"""
import argparse
import copy
import functools
import hashlib
import json
import os
import os.path as osp
import platform
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis import (build_dataloader, data_root_options,
                             load_state_dict, mean_subnet_accuracy,
                             subnet_accuracies, subnets_of_rule)
from mmstim.models.subnets import SubnetSampler, find_residual_stages

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', 'fashion_mnist')
METHODS = {
    'baseline': 'resnet14_baseline_fashion-mnist.py',
    'droppath': 'resnet14_droppath_fashion-mnist.py',
    'st': 'resnet14_st_fashion-mnist.py',
    'stpp': 'resnet14_stpp_fashion-mnist.py',
}
#: Subnets evaluated for every method (the same set for all).
SUBNET_RULE = 'default'
FULL_DEFAULTS = dict(epochs=10, seeds=[0, 1, 2], train_size=0, test_size=0,
                     recalibration_images=2000)
QUICK_DEFAULTS = dict(epochs=1, seeds=[0], train_size=256, test_size=256,
                      recalibration_images=256)
TRAIN_IMAGES, TEST_IMAGES = 60000, 10000
#: Written next to a run's checkpoint when its training finishes.
TRAINING_RECORD = 'training.json'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--methods', nargs='+', choices=tuple(METHODS), default=list(METHODS))
    parser.add_argument('--epochs', type=int, help='default 10 (quick: 1)')
    parser.add_argument(
        '--seeds', type=int, nargs='+', help='default 0 1 2 (quick: 0)')
    parser.add_argument(
        '--train-size', type=int,
        help='first N of the 60000 training images; 0 = all (quick: 256)')
    parser.add_argument(
        '--test-size', type=int,
        help='first N of the 10000 test images; 0 = all (quick: 256)')
    parser.add_argument(
        '--recalibration-images', type=int,
        help='training images for the BN recalibration of each subnet; '
        'default 2000 (quick: 256)')
    parser.add_argument(
        '--quick', action='store_true',
        help='smoke test: 1 epoch, 256 train and test images, 1 seed')
    parser.add_argument(
        '--force', action='store_true', help='rerun finished runs too')
    parser.add_argument(
        '--data-root', default=osp.join(REPO, 'data', 'fashion_mnist'))
    parser.add_argument(
        '--work-dir',
        default=osp.join(REPO, 'work_dirs', 'benchmark_accuracy'))
    parser.add_argument(
        '--num-workers', type=int,
        help="data loader workers (default: the configs' 2; quick: 0)")
    parser.add_argument(
        '--threads', type=int,
        help="torch's intra-op threads (default: torch's choice); 1 is "
        'much faster on a machine whose cores are busy with other work')
    parser.add_argument(
        '--merge', nargs='+', metavar='RESULTS_JSON',
        help='add the runs of these results files to --out-json instead of '
        'training (a run already there with the same settings is kept '
        'unless --force)')
    parser.add_argument(
        '--out-json',
        default=osp.join(REPO, 'benchmarks', 'results', 'fashion_mnist.json'))
    parser.add_argument(
        '--out-md', help='markdown table; default: --out-json with .md')
    args = parser.parse_args(argv)
    defaults = QUICK_DEFAULTS if args.quick else FULL_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, copy.deepcopy(value))
    if args.num_workers is None and args.quick:
        args.num_workers = 0
    if args.out_md is None:
        args.out_md = osp.splitext(args.out_json)[0] + '.md'
    return args


def config_path(method: str) -> str:
    """The config file of a method."""
    return osp.join(CONFIG_DIR, METHODS[method])


@functools.lru_cache(maxsize=None)
def config_digest(path: str) -> str:
    """A digest of a config's content, to tell whether it changed."""
    text = json.dumps(
        Config.fromfile(path).to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_settings(args: argparse.Namespace, method: str) -> dict:
    """What a finished run must share with this invocation to be reused."""
    return dict(
        epochs=args.epochs,
        train_size=args.train_size or TRAIN_IMAGES,
        test_size=args.test_size or TEST_IMAGES,
        recalibration_images=args.recalibration_images,
        subnet_rule=SUBNET_RULE,
        config_digest=config_digest(config_path(method)))


def run_config(args: argparse.Namespace, method: str, seed: int) -> Config:
    """The method's config with the benchmark's overrides.

    Validation during training is switched off: the test images are
    evaluated once, after the last epoch.
    """
    cfg = Config.fromfile(config_path(method))
    cfg.merge_from_dict(data_root_options(args.data_root))
    cfg.work_dir = osp.join(args.work_dir, method, f'seed{seed}')
    cfg.experiment_name = f'{method}_seed{seed}_{uuid.uuid4().hex[:8]}'
    cfg.randomness = dict(seed=seed)
    cfg.train_cfg.max_epochs = args.epochs
    cfg.train_cfg.val_interval = args.epochs
    cfg.param_scheduler.T_max = args.epochs
    cfg.default_hooks.checkpoint.interval = args.epochs
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    cfg.val_cfg = None
    if args.train_size:
        cfg.train_dataloader.dataset.indices = args.train_size
    if args.test_size:
        cfg.test_dataloader.dataset.indices = args.test_size
    for key in ('train_dataloader', 'test_dataloader'):
        if args.num_workers is not None:
            cfg[key].num_workers = args.num_workers
            if args.num_workers == 0:
                cfg[key].persistent_workers = False
    if args.quick:
        cfg.log_level = 'WARNING'
    return cfg


def recipe(cfg: Config) -> dict:
    """The hyperparameters of a method, as its config sets them."""
    model = cfg.model
    result = dict(
        model=model.type,
        optimizer=dict(cfg.optim_wrapper.optimizer),
        batch_size=cfg.train_dataloader.batch_size,
        drop_path_rate=model.backbone.get('drop_path_rate', 0.0))
    for key in ('distill_loss', 'subnet_resize', 'normalize_main_logits'):
        if key in model:
            result[key] = model[key]
    for hook in cfg.get('custom_hooks', []) or []:
        if hook.get('type') == 'SubnetSamplingHook':
            result['subnet_sampling'] = dict(hook)
    return json.loads(json.dumps(result, default=str))


def device_name() -> str:
    """The accelerator or processor a run trains on, in words."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    processor = platform.processor() or platform.machine()
    if osp.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f
                     if line.startswith('model name')]
        processor = names[0] if names else processor
    return f'{processor}, {torch.get_num_threads()} torch thread(s)'


def finished_training(args: argparse.Namespace, method: str,
                      work_dir: str) -> Optional[dict]:
    """The training record of a run whose evaluation did not finish.

    Returns:
        dict | None: The record in ``work_dir`` when it was made with the
        current settings and its checkpoint still exists, else None.
    """
    path = osp.join(work_dir, TRAINING_RECORD)
    if args.force or not osp.isfile(path):
        return None
    with open(path) as f:
        training = json.load(f)
    if (training.get('settings') != run_settings(args, method)
            or not osp.isfile(training.get('checkpoint') or '')):
        return None
    return training


def train(args: argparse.Namespace, method: str, runner: Runner) -> dict:
    """Train a run and write its training record next to its checkpoint."""
    start = time.time()
    runner.train()
    checkpoint = osp.join(runner.work_dir, f'epoch_{args.epochs}.pth')
    training = dict(
        settings=run_settings(args, method),
        train_time_s=time.time() - start,
        device=device_name(),
        checkpoint=checkpoint if osp.isfile(checkpoint) else None,
        finished_at=datetime.now(timezone.utc).isoformat(timespec='seconds'))
    write_json_atomic(osp.join(runner.work_dir, TRAINING_RECORD), training)
    return training


def train_and_evaluate(args: argparse.Namespace, method: str,
                       seed: int) -> dict:
    """Train one (method, seed) and evaluate its full network and subnets.

    A run whose training finished earlier with the same settings (its
    training record and checkpoint are in the work dir) is not trained
    again: its checkpoint is loaded and evaluated.

    Returns:
        dict: The run's record for the results JSON.
    """
    cfg = run_config(args, method, seed)
    start = time.time()
    training = finished_training(args, method, cfg.work_dir)
    runner = Runner.from_cfg(cfg)
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    earlier_training_time = 0.0
    if training is None:
        training = train(args, method, runner)
    else:
        print(f'evaluating {method} seed {seed}: its training finished '
              f'{training["finished_at"]} on {training["device"]}; '
              f'loading {training["checkpoint"]}', flush=True)
        model.load_state_dict(
            load_state_dict(training['checkpoint']), strict=True)
        earlier_training_time = training['train_time_s']
    train_images = len(runner.train_dataloader.dataset)
    test_loader = build_dataloader(cfg, 'test_dataloader', args.num_workers)
    train_loader = build_dataloader(cfg, 'train_dataloader',
                                    args.num_workers, seed)
    sampler = SubnetSampler(
        find_residual_stages(model.backbone), SUBNET_RULE)
    results = subnet_accuracies(
        model, subnets_of_rule(sampler), test_loader, train_loader,
        args.recalibration_images, progress=True,
        desc=f'{method} seed {seed}')
    full = next(r for r in results if r['full'])
    return dict(
        method=method,
        seed=seed,
        config=osp.relpath(config_path(method), REPO),
        settings=run_settings(args, method),
        train_images=train_images,
        test_images=len(test_loader.dataset),
        top1=full['top1'],
        mean_subnet_top1=mean_subnet_accuracy(results),
        mean_subnet_top1_recalibrated=mean_subnet_accuracy(
            results, 'top1_recalibrated'),
        subnets=[{k: r[k] for k in ('depths', 'top1', 'top1_recalibrated')
                  if k in r} for r in results],
        train_time_s=training['train_time_s'],
        wall_time_s=earlier_training_time + time.time() - start,
        checkpoint=training['checkpoint'],
        work_dir=cfg.work_dir,
        device=training['device'],
        evaluated_on=device_name(),
        finished_at=datetime.now(timezone.utc).isoformat(timespec='seconds'),
        recipe=recipe(cfg))


def write_json_atomic(path: str, data: dict) -> None:
    """Write JSON to a temporary file next to ``path``, then rename it."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix='.' + osp.basename(path), suffix='.tmp')
    try:
        with os.fdopen(handle, 'w') as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if osp.exists(temporary):
            os.remove(temporary)
        raise


def write_text_atomic(path: str, text: str) -> None:
    """Write text to a temporary file next to ``path``, then rename it."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix='.' + osp.basename(path), suffix='.tmp')
    with os.fdopen(handle, 'w') as f:
        f.write(text)
    os.replace(temporary, path)


def load_results(path: str) -> dict:
    """The results JSON, or an empty one when the file does not exist."""
    if not osp.isfile(path):
        return dict(runs={})
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(
                f'{path} is not valid JSON ({error}); move it away to start '
                f'the benchmark afresh.') from error
    data.setdefault('runs', {})
    return data


def _mean_std(values: List[float]) -> Dict[str, Optional[float]]:
    if not values:
        return dict(mean=None, std=None)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return dict(mean=float(np.mean(values)), std=std)


def _amplitude_note() -> str:
    """How the ST++ config's KL- amplitude relates to the published one."""
    loss = Config.fromfile(config_path('stpp')).model.distill_loss
    amplitude = float(loss.get('amplitude', 1.0))
    if amplitude == 1.0:
        return 'the ST++ KL- amplitude is the published 1.0 (untuned)'
    return (f'the ST++ KL- amplitude is {amplitude}, which differs from '
            f'the published 1.0')


def tuning_note(methods: List[str]) -> dict:
    """What was tuned, and how (the ``tuning`` field of the JSON)."""
    return dict(
        tuned='nothing',
        test_set='The test images are used only for the reported numbers: '
        'no hyperparameter, epoch or checkpoint was chosen on them (the '
        'last epoch is reported; there is no early stopping).',
        shared_recipe='All methods train with one recipe '
        '(configs/_base_/schedules/fashion_mnist_cpu.py and '
        'configs/_base_/datasets/fashion_mnist.py: SGD, Nesterov momentum '
        '0.9, lr 0.1 for batch 128, weight decay 5e-4, cosine decay to 0, '
        'random crop with 2 px padding and horizontal flip), fixed before '
        'any run; epochs and training subset are the same compute budget '
        'for every method.',
        methods='Method hyperparameters are published values or library '
        f'defaults, not tuned: {_amplitude_note()}, with tau 1.0, 2 '
        'subnets per iteration and subnet inputs resized from 0.43 of the '
        'side; ST uses the plain KL with 1 subnet; stochastic depth uses '
        "drop_path_rate 0.1. The exact values are in each method's recipe "
        'field.',
        compared_methods=list(methods))


def summarize(data: dict, args: argparse.Namespace) -> dict:
    """Mean and std per method over the seeds finished for every method."""
    finished = {}
    for method in args.methods:
        settings = run_settings(args, method)
        finished[method] = {
            int(seed): run
            for seed, run in data['runs'].get(method, {}).items()
            if run.get('settings') == settings
        }
    common = sorted(set.intersection(*(set(r) for r in finished.values())))
    excluded = sorted(f'{m} seed {s}' for m, runs in finished.items()
                      for s in runs if s not in common)
    methods = {}
    for method, runs in finished.items():
        chosen = [runs[s] for s in common]
        top1 = _mean_std([r['top1'] for r in chosen])
        subnet = _mean_std([r['mean_subnet_top1'] for r in chosen])
        recal = _mean_std([
            r['mean_subnet_top1_recalibrated'] for r in chosen
            if r['mean_subnet_top1_recalibrated'] is not None])
        settings = run_settings(args, method)
        methods[method] = dict(
            config=osp.relpath(config_path(method), REPO),
            seeds=common,
            top1_mean=top1['mean'],
            top1_std=top1['std'],
            top1_per_seed={str(s): runs[s]['top1'] for s in common},
            mean_subnet_top1_mean=subnet['mean'],
            mean_subnet_top1_std=subnet['std'],
            mean_subnet_top1_recalibrated_mean=recal['mean'],
            mean_subnet_top1_recalibrated_std=recal['std'],
            epochs=settings['epochs'],
            train_size=chosen[0]['train_images'] if chosen else None,
            test_size=chosen[0]['test_images'] if chosen else None,
            train_time_s_per_run=_mean_std(
                [r['train_time_s'] for r in chosen])['mean'],
            wall_time_s_per_run=_mean_std(
                [r['wall_time_s'] for r in chosen])['mean'],
            wall_time_s_total=float(sum(r['wall_time_s'] for r in chosen)),
            devices=sorted({r.get('device', 'unknown') for r in chosen}),
            train_time_s_per_run_by_device=_train_time_by_device(chosen),
            **_paired_difference(runs, finished.get('baseline'), common,
                                 method),
            recipe=chosen[0]['recipe'] if chosen else None)
    return dict(
        seeds_common_to_all_methods=common,
        num_seeds=len(common),
        excluded_runs=excluded,
        methods=methods)


def _train_time_by_device(runs: List[dict]) -> Dict[str, float]:
    """Mean training time per run, for each device the runs trained on."""
    times: Dict[str, List[float]] = {}
    for run in runs:
        times.setdefault(run.get('device', 'unknown'),
                         []).append(run['train_time_s'])
    return {device: float(np.mean(t)) for device, t in sorted(times.items())}


def _paired_difference(runs: Dict[int, dict],
                       baseline: Optional[Dict[int, dict]],
                       seeds: List[int], method: str) -> dict:
    """Top-1 minus the baseline's, seed by seed: mean and std.

    Runs of one seed share the initial weights and the data order, so the
    per-seed difference removes most of the seed-to-seed spread.
    """
    if baseline is None or method == 'baseline':
        return dict(top1_minus_baseline_mean=None,
                    top1_minus_baseline_std=None)
    result = _mean_std([runs[s]['top1'] - baseline[s]['top1']
                        for s in seeds])
    return dict(top1_minus_baseline_mean=result['mean'],
                top1_minus_baseline_std=result['std'])


def _fmt(mean: Optional[float], std: Optional[float],
         signed: bool = False) -> str:
    if mean is None:
        return 'n/a'
    text = f'{mean:+.2f}' if signed else f'{mean:.2f}'
    return f'{text} ± {std:.2f}' if std is not None else text


def _minutes(seconds: Optional[float]) -> str:
    return f'{seconds / 60:.1f}' if seconds is not None else 'n/a'


def _devices(summary: dict) -> List[str]:
    return sorted({d for m in summary['methods'].values()
                   for d in m.get('devices', [])})


def _time_table(summary: dict) -> List[str]:
    """Training time per run in minutes, one column per device."""
    devices = _devices(summary)
    lines = [
        '', 'Training time per run (min), by the device it trained on:', '',
        '| method | ' + ' | '.join(devices) + ' |',
        '|---|' + '---|' * len(devices)
    ]
    for method, m in summary['methods'].items():
        times = m.get('train_time_s_per_run_by_device', {})
        lines.append('| ' + ' | '.join(
            [method] + [_minutes(times.get(d)) for d in devices]) + ' |')
    return lines


def markdown(summary: dict, args: argparse.Namespace) -> str:
    """The summary as a markdown section."""
    seeds = summary['seeds_common_to_all_methods']
    any_method = next(iter(summary['methods'].values()))
    epochs = any_method['epochs']
    lines = [
        '## Fashion-MNIST accuracy benchmark', '',
        f'ResNet-14 (3 stages of 2 basic blocks), {epochs} '
        f'epoch{"s" if epochs != 1 else ""} on {any_method["train_size"]} '
        f'training images, top-1 on {any_method["test_size"]} test images. '
        f'Mean ± std over the {len(seeds)} seed(s) finished for every '
        f'method ({", ".join(map(str, seeds)) or "none"}). Subnets: the '
        f'proper subnets of the {SUBNET_RULE!r} rule (1 or 2 blocks per '
        f'stage), without and with BN recalibration on '
        f'{args.recalibration_images} training images. Trained on: '
        f'{"; ".join(_devices(summary)) or "n/a"}.', '',
        '| method | config | top-1, full network (%) | top-1 minus '
        'baseline, paired by seed (pp) | mean subnet top-1 (%) | mean '
        'subnet top-1, BN recalibrated (%) |', '|---|---|---|---|---|---|'
    ]
    for method, m in summary['methods'].items():
        cells = [
            method, f'`{osp.basename(m["config"])}`',
            _fmt(m['top1_mean'], m['top1_std']),
            _fmt(m['top1_minus_baseline_mean'], m['top1_minus_baseline_std'],
                 signed=True),
            _fmt(m['mean_subnet_top1_mean'], m['mean_subnet_top1_std']),
            _fmt(m['mean_subnet_top1_recalibrated_mean'],
                 m['mean_subnet_top1_recalibrated_std'])
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += _time_table(summary)
    if summary['excluded_runs']:
        lines += [
            '', 'Left out (not finished for every method): ' +
            ', '.join(summary['excluded_runs']) + '.'
        ]
    lines += [
        '', f'Nothing was tuned on the test set; {_amplitude_note()}. '
        'Details: the `tuning` field of the JSON.', ''
    ]
    return '\n'.join(lines)


def merge_runs(data: dict, paths: List[str],
               args: argparse.Namespace) -> None:
    """Add the runs of other results files to ``data``.

    A run of a method this invocation does not compare is an error; a run
    already in ``data`` with the current settings is kept unless
    ``args.force``.
    """
    for path in paths:
        if not osp.isfile(path):
            raise ValueError(f'--merge: {path} does not exist')
        for method, runs in load_results(path)['runs'].items():
            if method not in args.methods:
                raise ValueError(
                    f'--merge: {path} holds runs of method {method!r}; '
                    f'compared methods are {args.methods}')
            for seed, run in runs.items():
                current = data['runs'].get(method, {}).get(seed)
                if (current and current.get('settings') == run_settings(
                        args, method) and not args.force):
                    print(f'kept {method} seed {seed}: already finished '
                          f'with the same settings')
                    continue
                data['runs'].setdefault(method, {})[seed] = run
                print(f'merged {method} seed {seed} from {path}')


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for split in ([] if args.merge else ['train', 't10k']):
        path = osp.join(args.data_root, f'{split}-images-idx3-ubyte')
        if not osp.isfile(path):
            print(f'error: {path} does not exist; prepare the data with '
                  f'python tools/data/prepare_fashion_mnist.py (or pass '
                  f'--data-root).', file=sys.stderr)
            return 2
    try:
        data = load_results(args.out_json)
        if args.merge:
            merge_runs(data, args.merge, args)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for seed in ([] if args.merge else args.seeds):
        for method in args.methods:
            done = data['runs'].get(method, {}).get(str(seed))
            if done and done.get('settings') == run_settings(
                    args, method) and not args.force:
                print(f'skipped {method} seed {seed}: finished '
                      f'{done["finished_at"]} with the same settings')
                continue
            print(f'training {method} seed {seed} ...', flush=True)
            record = train_and_evaluate(args, method, seed)
            data['runs'].setdefault(method, {})[str(seed)] = record
            data.update(summarize(data, args), tuning=tuning_note(
                args.methods))
            write_json_atomic(args.out_json, data)
            print(f'{method} seed {seed}: top-1 {record["top1"]:.2f}, '
                  f'{record["wall_time_s"] / 60:.1f} min', flush=True)
    data.update(summarize(data, args), tuning=tuning_note(args.methods))
    write_json_atomic(args.out_json, data)
    text = markdown(data, args)
    write_text_atomic(args.out_md, text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
