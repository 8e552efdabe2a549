# Copyright (c) mmstim contributors. All rights reserved.
"""Accuracy of baseline, stochastic depth, ST and ST++ on Fashion-MNIST.

Trains every (method, seed) from ``configs/fashion_mnist`` with the same
overrides, then evaluates the full network and the subnets of the
``default`` rule on the test images with :func:`evaluate_subnets`, without
and with BN re-estimation. Finished runs are skipped; a run whose work dir
holds ``training.json`` next to its last checkpoint is evaluated from it
without training again; an interrupted training resumes from its last
epoch's checkpoint when its settings are the same. Means ± std use the seeds
finished for every method.
``--merge`` adds runs made elsewhere; ``--quick`` is a smoke test.
``--stage-blocks`` trains another depth of the same network from scratch
(e.g. ``1 1 1`` for the architecture of the shallowest subnet), to compare
with the subnets of the ResNet-14 runs.

``--holdout N`` keeps the last N training images out of training and
evaluates on them (test pipeline) instead of on the test images, so that
choices can be made without the test set. ``--set`` overrides config values
of every method (``KEY=VALUE``) or of one (``METHOD:KEY=VALUE``); runs with
overrides train in their own folder under the method's work dir. A run's
training is reused whatever split it is evaluated on, so the final test
evaluation of a validation run's settings trains nothing.
"""
import argparse
import functools
import hashlib
import json
import os
import os.path as osp
import platform
import re
import struct
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any, List, Optional, Union

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.fileio import dump, load, put_text
from mmengine.hooks import Hook
from mmengine.runner import Runner, find_latest_checkpoint, set_random_seed

import mmstim  # noqa: F401  (registers the components)
from mmstim.analysis.stats import mean_std
from mmstim.analysis.subnet_eval import evaluate_subnets, mean_subnet_accuracy

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHODS = ('baseline', 'droppath', 'st', 'stpp')
RULE = 'default'
FULL = dict(epochs=10, seeds=[0, 1, 2], train_size=0, test_size=0,
            recalibration_images=2000)
QUICK = dict(epochs=1, seeds=[0], train_size=256, test_size=256,
             recalibration_images=256, num_workers=0)
TRAIN_IMAGES, TEST_IMAGES = 60000, 10000
TRAINING_RECORD = 'training.json'  # written next to a run's last checkpoint
STARTED_RECORD = 'training_started.json'  # a training's settings, at start
# Settings that change the evaluation, not the training: a training record
# that differs from a run's settings only in these is reused.
EVALUATION_SETTINGS = ('test_size', 'holdout', 'recalibration_images',
                       'subnet_rule', 'subnets')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the options; those not given take the full or quick defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--methods', nargs='+', choices=METHODS, default=list(METHODS))
    add('--epochs', type=int, help='default 10 (quick: 1)')
    add('--seeds', type=int, nargs='+', help='default 0 1 2 (quick: 0)')
    add('--train-size', type=int, help='first N training images; 0: all')
    add('--test-size', type=int, help='first N test images; 0: all')
    add('--holdout', type=int, default=0, metavar='N',
        help='hold the last N training images out of training and evaluate '
        'on them instead of the test images; default 0: the test images')
    add('--set', nargs='+', action=DictAction, default={},
        metavar='[METHOD:]KEY=VALUE',
        help="config overrides, e.g. model.backbone.drop_path_rate=0.05: of "
        "every method's config, or of one with a METHOD: prefix")
    add('--subnets', type=int, metavar='N',
        help='evaluate the full network and N - 1 subnets of the rule drawn '
        "with the run's seed (1: the full network only); default: all")
    add('--recalibration-images', type=int,
        help='training images to re-estimate BN on per subnet; default 2000')
    add('--quick', action='store_true',
        help='smoke test: 1 epoch, 256 train and test images, seed 0')
    add('--force', action='store_true', help='rerun finished runs too')
    add('--stage-blocks', type=int, nargs='+', metavar='N',
        help='blocks per stage of the trained network (AnyDepthResNet with '
        "the configs' ResNet_CIFAR blocks); default: the configs' 2 2 2")
    add('--data-root', default=osp.join(REPO, 'data', 'fashion_mnist'))
    add('--work-dir',
        default=osp.join(REPO, 'work_dirs', 'benchmark_accuracy'))
    add('--num-workers', type=int,
        help="data loader workers (default: the configs'; quick: 0)")
    add('--threads', type=int,
        help="torch's intra-op threads; 1 is fastest on busy cores")
    add('--merge', nargs='+', metavar='RESULTS_JSON',
        help="add these files' runs to --out-json instead of training; a "
        'run there with the same settings is kept unless --force')
    add('--out-json',
        default=osp.join(REPO, 'benchmarks', 'results', 'fashion_mnist.json'))
    add('--out-md', help='markdown table; default: --out-json with .md')
    args = parser.parse_args(argv)
    if args.subnets is not None and args.subnets < 1:
        parser.error(f'--subnets must be at least 1, got {args.subnets}')
    if not 0 <= args.holdout < TRAIN_IMAGES:
        parser.error(f'--holdout must be in [0, {TRAIN_IMAGES}), '
                     f'got {args.holdout}')
    if args.holdout and args.test_size is not None:
        parser.error('--test-size picks test images; with --holdout the '
                     'held-out training images are evaluated')
    if args.holdout and (args.train_size or 0) > TRAIN_IMAGES - args.holdout:
        parser.error(f'--train-size {args.train_size} is more than the '
                     f'{TRAIN_IMAGES - args.holdout} training images before '
                     f'the {args.holdout} held out')
    for key in args.set:
        scope = key.rpartition(':')[0]
        if scope and scope not in args.methods:
            parser.error(f'--set {key}: {scope!r} is not one of the '
                         f'compared methods {args.methods}')
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.holdout:
        args.test_size = 0  # the whole held-out slice is evaluated
    args.out_md = args.out_md or osp.splitext(args.out_json)[0] + '.md'
    return args


def config_path(method: str) -> str:
    """The config file of a method."""
    return osp.join(REPO, 'configs', 'fashion_mnist',
                    f'resnet14_{method}_fashion-mnist.py')


@functools.lru_cache(maxsize=None)
def config_digest(path: str) -> str:
    """A digest of a config's content, to tell whether it changed."""
    text = json.dumps(
        Config.fromfile(path).to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def method_overrides(args: argparse.Namespace, method: str) -> dict:
    """The ``--set`` overrides of a method, without their ``METHOD:``.

    Args:
        args (argparse.Namespace): The parsed options.
        method (str): One of :data:`METHODS`.

    Returns:
        dict: Dotted config keys and values (as JSON stores them), sorted;
        a key set for the method wins over the same key set for all.
    """
    overrides = {}
    for key, value in sorted(args.set.items(), key=lambda kv: ':' in kv[0]):
        scope, _, name = key.rpartition(':')
        if scope in ('', method):
            overrides[name] = json.loads(json.dumps(value))
    return dict(sorted(overrides.items()))


def method_config(args: argparse.Namespace, method: str) -> Config:
    """The method's config with its ``--set`` overrides applied.

    Raises:
        ValueError: When an overridden key is not in the method's config.
    """
    cfg = Config.fromfile(config_path(method))
    overrides = method_overrides(args, method)
    for key in overrides:
        node: Any = cfg.to_dict()
        for part in key.split('.'):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif (isinstance(node, (list, tuple)) and part.isdigit()
                  and int(part) < len(node)):
                node = node[int(part)]
            else:
                raise ValueError(
                    f'--set {key}: the {method} config '
                    f'({osp.relpath(config_path(method), REPO)}) has no '
                    f'{key!r}')
    cfg.merge_from_dict(overrides, allow_list_keys=True)
    return cfg


def evaluation_split(args: argparse.Namespace) -> str:
    """The images a run is evaluated on, in words."""
    return (f'validation: last {args.holdout} training images'
            if args.holdout else 'test')


def run_settings(args: argparse.Namespace, method: str) -> dict:
    """What a finished run must share with this invocation to be reused."""
    overrides = method_overrides(args, method)
    evaluation = (dict(holdout=args.holdout) if args.holdout else dict(
        test_size=args.test_size or TEST_IMAGES))
    return dict(
        epochs=args.epochs,
        train_size=args.train_size or TRAIN_IMAGES - args.holdout,
        **evaluation, recalibration_images=args.recalibration_images,
        subnet_rule=RULE, config_digest=config_digest(config_path(method)),
        **({'stage_blocks': args.stage_blocks} if args.stage_blocks else {}),
        **({'subnets': args.subnets} if args.subnets else {}),
        **({'overrides': overrides} if overrides else {}))


def is_current(run: dict, args: argparse.Namespace, method: str) -> bool:
    """Whether a run has this invocation's settings."""
    return run.get('settings') == run_settings(args, method)


def trained_alike(record: dict, args: argparse.Namespace,
                  method: str) -> bool:
    """Whether a training record's training is this invocation's.

    The settings may differ in :data:`EVALUATION_SETTINGS` only: training on
    the first M images is the same whether the images after them are held
    out (``--holdout``) or not.
    """

    def training(settings: dict) -> dict:
        return {k: v for k, v in settings.items()
                if k not in EVALUATION_SETTINGS}

    return training(record.get('settings', {})) == training(
        run_settings(args, method))


def num_images(data_root: str, split: str = 'train') -> int:
    """The number of images of an idx file (``train`` or ``t10k``)."""
    with open(osp.join(data_root, f'{split}-images-idx3-ubyte'), 'rb') as f:
        return struct.unpack('>II', f.read(8))[1]


def run_dir(args: argparse.Namespace, method: str, seed: int) -> str:
    """The work dir of a run; runs with ``--set`` overrides get a subfolder.

    For example ``<work-dir>/stpp/model.distill_loss.amplitude=2.0/seed0``.
    """
    tag = ','.join(f'{key}={json.dumps(value)}'
                   for key, value in method_overrides(args, method).items())
    tag = re.sub(r'[^\w.,=+-]', '', tag)
    return osp.join(args.work_dir, method, *([tag] if tag else []),
                    f'seed{seed}')


def held_out_train_size(args: argparse.Namespace) -> int:
    """``--train-size``, or with ``--holdout`` the images left to train on.

    Raises:
        ValueError: When the held-out images leave fewer than
            ``--train-size`` (or none) in the data root.
    """
    if not args.holdout:
        return args.train_size
    available = num_images(args.data_root) - args.holdout
    if available <= 0 or args.train_size > available:
        raise ValueError(
            f'--holdout {args.holdout} leaves {max(available, 0)} training '
            f'images in {args.data_root}; --train-size asks for '
            f'{args.train_size or "all"}')
    return args.train_size or available


def run_config(args: argparse.Namespace, method: str, seed: int) -> Config:
    """The method's config with the benchmark's overrides (no val loop).

    With ``--holdout N``, training uses the first ``--train-size`` of the
    first ``T - N`` training images (T in the data root), and the test
    loader holds the last N training images with the test pipeline.

    Raises:
        ValueError: For a ``--set`` key the config lacks, or when the
            held-out images leave fewer than ``--train-size`` to train on.
    """
    cfg = method_config(args, method)
    cfg.work_dir = run_dir(args, method, seed)
    cfg.experiment_name = f'{method}_seed{seed}_{uuid.uuid4().hex[:8]}'
    cfg.randomness = dict(seed=seed)
    cfg.train_cfg.update(max_epochs=args.epochs, val_interval=args.epochs)
    cfg.param_scheduler.T_max = args.epochs
    # every epoch, so that an interrupted training loses one epoch at most
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=1)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    if args.stage_blocks:
        backbone = cfg.model.backbone
        cfg.model.backbone = dict(
            backbone, type='AnyDepthResNet', arch=backbone.type,
            stage_blocks=args.stage_blocks)
    train_size, test_size = held_out_train_size(args), args.test_size
    if args.holdout:
        # MNIST datasets read the training file when test_mode is False;
        # a negative int is BaseDataset's "last N images".
        cfg.test_dataloader.dataset = dict(
            cfg.test_dataloader.dataset, split='train', test_mode=False,
            indices=-args.holdout)
    for key, size in (('train_dataloader', train_size),
                      ('test_dataloader', test_size)):
        cfg[key].dataset.data_root = args.data_root
        if size:
            cfg[key].dataset.indices = size
        if args.num_workers is not None:
            cfg[key].num_workers = args.num_workers
        if args.num_workers == 0:
            cfg[key].persistent_workers = False
    if args.quick:
        cfg.log_level = 'WARNING'
    return cfg


def recipe(cfg: Config) -> dict:
    """The hyperparameters of a method, as its config sets them."""
    model, hooks = cfg.model, cfg.get('custom_hooks') or []
    result = dict(
        model=model.type, optimizer=dict(cfg.optim_wrapper.optimizer),
        batch_size=cfg.train_dataloader.batch_size,
        drop_path_rate=model.backbone.get('drop_path_rate', 0.0),
        **{k: model[k] for k in ('distill_loss', 'subnet_resize',
                                 'normalize_main_logits') if k in model},
        **{'subnet_sampling': dict(hook) for hook in hooks
           if hook.get('type') == 'SubnetSamplingHook'})
    return json.loads(json.dumps(result, default=str))


def device_name() -> str:
    """The accelerator, or the processor and torch threads, in words."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    cpuinfo = open('/proc/cpuinfo').read() if osp.isfile(
        '/proc/cpuinfo') else ''
    names = re.findall(r'^model name\s*:\s*(.*?)\s*$', cpuinfo, re.M)
    processor = (names or [platform.processor() or platform.machine()])[0]
    return f'{processor}, {torch.get_num_threads()} torch thread(s)'


def now() -> str:
    """The UTC time, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


def dump_atomic(obj: Union[dict, str], path: str) -> None:
    """Write a dict as JSON, or text, to a temporary file; rename it."""
    if isinstance(obj, str):
        put_text(obj, f'{path}.tmp')
    else:
        dump(obj, f'{path}.tmp', file_format='json', indent=2)
    os.replace(f'{path}.tmp', path)


class TrainingClock(Hook):
    """Seconds of training, carried across a resume in the checkpoints.

    Time after the last checkpoint of an interrupted training is not
    counted: that work is done again.
    """

    priority = 'LOWEST'  # after the checkpoint hook of the same epoch

    def __init__(self) -> None:
        self.carried = 0.0
        self.started = time.time()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self.carried = checkpoint['meta'].get('train_time_s', 0.0)

    def before_train(self, runner) -> None:
        self.started = time.time()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['meta']['train_time_s'] = self.seconds()

    def seconds(self) -> float:
        """The training seconds so far, resumed ones included."""
        return self.carried + time.time() - self.started


class EpochSeeds(Hook):
    """Seeds this process's random generators from (seed, epoch).

    The training transforms of a loader without workers, and drop path, draw
    from them: seeded per epoch, a resumed training draws what the
    uninterrupted one would. (Loader workers are seeded at every epoch by
    MMEngine already, unless they persist.)
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def before_train_epoch(self, runner) -> None:
        state = np.random.SeedSequence([self.seed, runner.epoch])
        set_random_seed(int(state.generate_state(1)[0]))


def resume_from(args: argparse.Namespace, method: str,
                work_dir: str) -> Optional[str]:
    """The last checkpoint of an interrupted training of this run's settings.

    Returns:
        str, optional: None when no training with these settings started
        (or with ``--force``); the started training's settings are then
        recorded, for the next invocation.
    """
    path = osp.join(work_dir, STARTED_RECORD)
    started = load(path) if osp.isfile(path) and not args.force else {}
    if trained_alike(started, args, method):
        latest = find_latest_checkpoint(work_dir)
        if latest and osp.isfile(latest):
            return latest
    os.makedirs(work_dir, exist_ok=True)
    dump_atomic(dict(settings=run_settings(args, method), started_at=now()),
                path)
    return None


def train_and_evaluate(args: argparse.Namespace, method: str,
                       seed: int) -> dict:
    """Train one run, unless its training finished; evaluate its subnets."""
    start, cfg = time.time(), run_config(args, method, seed)
    checkpoint = osp.join(cfg.work_dir, f'epoch_{args.epochs}.pth')
    record = osp.join(cfg.work_dir, TRAINING_RECORD)
    training = load(record) if osp.isfile(record) and not args.force else {}
    trained = trained_alike(training, args, method) and osp.isfile(checkpoint)
    if not trained:
        cfg.load_from = resume_from(args, method, cfg.work_dir)
        cfg.resume = cfg.load_from is not None
    runner = Runner.from_cfg(cfg)
    if trained:
        print(f'evaluating {method} seed {seed}: its training finished '
              f'{training["finished_at"]} on {training["device"]}; loading '
              f'{checkpoint}', flush=True)
        start -= training['train_time_s']  # the wall time counts it
    else:
        if cfg.resume:
            print(f'resuming {method} seed {seed} from {cfg.load_from}',
                  flush=True)
        clock = TrainingClock()
        runner.register_hook(clock)
        runner.register_hook(EpochSeeds(seed))
        runner.train()
        start -= clock.carried  # the wall time counts the resumed training
        training = dict(
            settings=run_settings(args, method),
            train_time_s=clock.seconds(), device=device_name(),
            checkpoint=checkpoint, finished_at=now())
        dump_atomic(training, record)
    # A network of one block per stage has no subnet under the rule.
    subnets = dict(subnets=[]) if set(args.stage_blocks or []) == {1} else (
        dict(subnets=args.subnets) if args.subnets else {})
    results, _ = evaluate_subnets(
        cfg, checkpoint=checkpoint if trained else None, runner=runner,
        rule=RULE, seed=seed, recalibration_images=args.recalibration_images,
        **subnets)
    keys = ('depths', 'top1', 'top1_recalibrated')
    return dict(
        method=method, seed=seed,
        config=osp.relpath(config_path(method), REPO),
        settings=run_settings(args, method),
        evaluated_split=evaluation_split(args),
        train_images=len(runner.train_dataloader.dataset),
        test_images=len(runner.test_dataloader.dataset),
        top1=next(r['top1'] for r in results if r['full']),
        mean_subnet_top1=mean_subnet_accuracy(results),
        mean_subnet_top1_recalibrated=mean_subnet_accuracy(
            results, 'top1_recalibrated'),
        subnets=[{k: r[k] for k in keys if k in r} for r in results],
        train_time_s=training['train_time_s'],
        wall_time_s=time.time() - start, checkpoint=checkpoint,
        work_dir=cfg.work_dir, device=training['device'],
        evaluated_on=device_name(), finished_at=now(), recipe=recipe(cfg))


def load_results(path: str) -> dict:
    """A results file (``runs`` at least; empty when it does not exist)."""
    try:
        return {'runs': {}, **(load(path) if osp.isfile(path) else {})}
    except ValueError as error:
        raise ValueError(f'{path} is not valid JSON ({error}); move it away '
                         'to start the benchmark afresh.') from error


def merge_runs(data: dict, paths: List[str],
               args: argparse.Namespace) -> None:
    """Add the runs of results files to ``data``; see ``--merge``."""
    for path in paths:
        if not osp.isfile(path):
            raise ValueError(f'--merge: {path} does not exist')
        for method, runs in load_results(path)['runs'].items():
            if method not in args.methods:
                raise ValueError(
                    f'--merge: {path} holds runs of method {method!r}; '
                    f'compared methods are {args.methods}')
            for seed, run in runs.items():
                kept = data['runs'].get(method, {}).get(seed, {})
                if is_current(kept, args, method) and not args.force:
                    print(f'kept {method} seed {seed}: already finished '
                          'with the same settings')
                else:
                    data['runs'].setdefault(method, {})[seed] = run
                    print(f'merged {method} seed {seed} from {path}')


def mean_std_of(key: str, values: List[float]) -> dict:
    """``<key>_mean`` and ``<key>_std`` of :func:`mean_std`."""
    stats = mean_std(values)
    return {f'{key}_mean': stats['mean'], f'{key}_std': stats['std']}


def summarize(data: dict, args: argparse.Namespace) -> dict:
    """Per method: mean ± std over the seeds finished for every method."""
    finished = {m: {int(s): r for s, r in data['runs'].get(m, {}).items()
                    if is_current(r, args, m)} for m in args.methods}
    common = sorted(set.intersection(*map(set, finished.values())))
    baseline, methods = finished.get('baseline'), {}
    for method, runs in finished.items():
        chosen = [runs[s] for s in common]
        times = {}
        for run in chosen:
            times.setdefault(run.get('device', 'unknown'),
                             []).append(run['train_time_s'])
        # Runs of one seed share the initial weights and the data order.
        paired = [runs[s]['top1'] - baseline[s]['top1'] for s in common
                  ] if baseline and method != 'baseline' else []
        values = {k: [r[k] for r in chosen if r[k] is not None]
                  for k in ('top1', 'mean_subnet_top1', 'train_time_s',
                            'mean_subnet_top1_recalibrated', 'wall_time_s')}
        methods[method] = dict(
            config=osp.relpath(config_path(method), REPO), seeds=common,
            **mean_std_of('top1', values['top1']),
            top1_per_seed={str(s): runs[s]['top1'] for s in common},
            **mean_std_of('mean_subnet_top1', values['mean_subnet_top1']),
            **mean_std_of('mean_subnet_top1_recalibrated',
                          values['mean_subnet_top1_recalibrated']),
            epochs=args.epochs,
            train_size=chosen[0]['train_images'] if chosen else None,
            test_size=chosen[0]['test_images'] if chosen else None,
            train_time_s_per_run=float(np.mean(values['train_time_s']))
            if chosen else None,
            wall_time_s_per_run=float(np.mean(values['wall_time_s']))
            if chosen else None,
            wall_time_s_total=float(sum(values['wall_time_s'])),
            devices=sorted(times),
            train_time_s_per_run_by_device={
                d: float(np.mean(t)) for d, t in sorted(times.items())},
            **mean_std_of('top1_minus_baseline', paired),
            overrides=method_overrides(args, method),
            recipe=chosen[0]['recipe'] if chosen else None)
    excluded = sorted(f'{m} seed {s}' for m, runs in finished.items()
                      for s in runs if s not in common)
    return dict(seeds_common_to_all_methods=common, num_seeds=len(common),
                excluded_runs=excluded, evaluated_split=evaluation_split(args),
                methods=methods)


def amplitude_note(args: Optional[argparse.Namespace] = None) -> str:
    """How the ST++ KL- amplitude relates to the published 1.0."""
    key = 'model.distill_loss.amplitude'
    overrides = method_overrides(args, 'stpp') if args else {}
    if key in overrides:
        return f'the ST++ KL- amplitude is {overrides[key]} (set by --set)'
    amplitude = float(Config.fromfile(
        config_path('stpp')).model.distill_loss.get('amplitude', 1.0))
    return ('the ST++ KL- amplitude is the published 1.0 (untuned)'
            if amplitude == 1.0 else f'the ST++ KL- amplitude is '
            f'{amplitude}, which differs from the published 1.0')


def overrides_text(args: argparse.Namespace) -> str:
    """The ``--set`` overrides per method, e.g. ``stpp: a.b=1``."""
    return '; '.join(
        f'{method}: ' + ', '.join(f'{k}={json.dumps(v)}'
                                  for k, v in overrides.items())
        for method in args.methods
        for overrides in [method_overrides(args, method)] if overrides)


def tuning_note(args: argparse.Namespace) -> dict:
    """What was tuned, and how (the ``tuning`` field of the JSON)."""
    overrides = {m: method_overrides(args, m) for m in args.methods}
    held_out = ('These runs are evaluated on a validation split, the last '
                f'{args.holdout} training images, none of which is trained '
                'on; the test images are not used.')
    return dict(
        tuned=f'config overrides (--set): {overrides_text(args)}'
        if args.set else 'nothing',
        evaluated_split=evaluation_split(args),
        overrides=overrides,
        test_set=held_out if args.holdout else
        'The test images are used only for the reported numbers: '
        'no hyperparameter, epoch or checkpoint was chosen on them (the last '
        'epoch is reported; there is no early stopping).',
        shared_recipe='All methods train with one recipe '
        '(configs/_base_/schedules/fashion_mnist_cpu.py and '
        'configs/_base_/datasets/fashion_mnist.py: SGD, Nesterov momentum '
        '0.9, lr 0.1 for batch 128, weight decay 5e-4, cosine decay to 0, '
        'random crop with 2 px padding and horizontal flip), fixed before any '
        'run; epochs and training subset are the same compute budget for '
        'every method.',
        methods='Method hyperparameters are published values or library '
        f'defaults, not tuned: {amplitude_note()}, with tau 1.0, 2 subnets '
        'per iteration and subnet inputs resized from 0.43 of the side; ST '
        'uses the plain KL with 1 subnet; stochastic depth uses '
        "drop_path_rate 0.1. The exact values are in each method's recipe "
        'field' + (', with the overrides above.' if args.set else '.'),
        compared_methods=list(args.methods))


def cell(mean: Optional[float], std: Optional[float] = None,
         fmt: str = '.2f') -> str:
    """``mean ± std``, or ``mean`` without a std, or ``n/a``."""
    if mean is None:
        return 'n/a'
    return format(mean, fmt) + ('' if std is None else f' ± {std:.2f}')


def table(header: List[str], rows: List[List[str]]) -> List[str]:
    """The lines of a markdown table."""
    lines = ['| ' + ' | '.join(row) + ' |' for row in [header] + rows]
    return lines[:1] + ['|' + '---|' * len(header)] + lines[1:]


def network_name(stage_blocks: Optional[List[int]]) -> str:
    """The trained network in words, e.g. 'ResNet-14 (2-2-2 basic blocks)'."""
    blocks = stage_blocks or [2, 2, 2]
    return (f'ResNet-{2 * sum(blocks) + 2} '
            f'({"-".join(map(str, blocks))} basic blocks per stage)')


def subnets_text(args: argparse.Namespace) -> str:
    """Which subnets were evaluated, in a sentence."""
    if args.subnets == 1:
        return 'Subnets: none (the full network only).'
    most = max(args.stage_blocks or [2])
    if most == 1:
        return 'Subnets: none (one block per stage).'
    which = (f'{args.subnets - 1} proper subnets, drawn with the seed,'
             if args.subnets else 'the proper subnets')
    return (f'Subnets: {which} of the {RULE!r} rule (1 '
            f'{"or" if most == 2 else "to"} {most} blocks per stage), without '
            f'and with BN recalibration on {args.recalibration_images} '
            'training images.')


def markdown(summary: dict, args: argparse.Namespace) -> str:
    """The summary as markdown: accuracies, then training times."""
    seeds, methods = summary['seeds_common_to_all_methods'], summary['methods']
    devices = sorted({d for m in methods.values() for d in m['devices']})
    columns = ('top1', 'top1_minus_baseline', 'mean_subnet_top1',
               'mean_subnet_top1_recalibrated')
    accuracies = [[method, f'`{osp.basename(m["config"])}`'] + [
        cell(m[f'{c}_mean'], m[f'{c}_std'], '+.2f' if 'minus' in c else '.2f')
        for c in columns] for method, m in methods.items()]
    times = [[method] + [
        cell(m['train_time_s_per_run_by_device'][d] / 60, fmt='.1f')
        if d in m['train_time_s_per_run_by_device'] else 'n/a'
        for d in devices] for method, m in methods.items()]
    epochs, first = args.epochs, next(iter(methods.values()))
    evaluated = (f'{first["test_size"]} validation images (the last '
                 f'{args.holdout} training images, not trained on)'
                 if args.holdout else f'{first["test_size"]} test images')
    lines = [
        '## Fashion-MNIST accuracy benchmark' +
        (' (validation split)' if args.holdout else ''), '',
        f'{network_name(args.stage_blocks)}, {epochs} '
        f'epoch{"s" if epochs != 1 else ""} on {first["train_size"]} '
        f'training images, top-1 on {evaluated}. Mean ± '
        f'std over the {len(seeds)} seed(s) finished for every method '
        f'({", ".join(map(str, seeds)) or "none"}). {subnets_text(args)} '
        f'Trained on: {"; ".join(devices) or "n/a"}.', ''
    ] + table([
        'method', 'config', 'top-1, full network (%)',
        'top-1 minus baseline, paired by seed (pp)', 'mean subnet top-1 (%)',
        'mean subnet top-1, BN recalibrated (%)'
    ], accuracies) + [
        '', 'Training time per run (min), by the device it trained on:', ''
    ] + table(['method'] + devices, times)
    if summary['excluded_runs']:
        lines += ['', 'Left out (not finished for every method): '
                  f'{", ".join(summary["excluded_runs"])}.']
    if args.set:
        lines += ['', f'Config overrides (`--set`): {overrides_text(args)}.']
    split = ('The test images were not used' if args.holdout else
             'Nothing was tuned on the test set')
    return '\n'.join(lines + [
        '', f'{split}; {amplitude_note(args)}. Details: the `tuning` field '
        'of the JSON.', ''])


def save(data: dict, args: argparse.Namespace) -> str:
    """Summarise ``data`` into ``--out-json`` and ``--out-md``; the table."""
    data.update(summarize(data, args), tuning=tuning_note(args))
    dump_atomic(data, args.out_json)
    text = markdown(data, args)
    dump_atomic(text, args.out_md)
    return text


def main(argv: Optional[List[str]] = None) -> int:
    """Train and evaluate what is missing (or merge); write the summary."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    images = [osp.join(args.data_root, f'{split}-images-idx3-ubyte')
              for split in ('train', 't10k')]
    for path in [] if args.merge else images:
        if not osp.isfile(path):
            print(f'error: {path} does not exist; prepare the data with '
                  'python tools/dataset_converters/prepare_fashion_mnist.py '
                  '(or pass --data-root).', file=sys.stderr)
            return 2
    try:
        for method in args.methods:  # an unknown --set key fails here
            method_config(args, method)
        if not args.merge:
            held_out_train_size(args)
        data = load_results(args.out_json)
        merge_runs(data, args.merge or [], args)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for seed in [] if args.merge else args.seeds:
        for method in args.methods:
            done = data['runs'].get(method, {}).get(str(seed), {})
            if is_current(done, args, method) and not args.force:
                print(f'skipped {method} seed {seed}: finished '
                      f'{done["finished_at"]} with the same settings')
                continue
            print(f'training {method} seed {seed} ...', flush=True)
            run = train_and_evaluate(args, method, seed)
            data['runs'].setdefault(method, {})[str(seed)] = run
            save(data, args)
            print(f'{method} seed {seed}: top-1 {run["top1"]:.2f}, '
                  f'{run["wall_time_s"] / 60:.1f} min', flush=True)
    print(save(data, args))
    return 0


if __name__ == '__main__':
    sys.exit(main())
