# Copyright (c) mmstim contributors. All rights reserved.
"""The accuracy benchmark's runs: configs, settings and resumable records.

A run is *current* when its recorded settings are the benchmark's:
:func:`is_current` is the one test every benchmark uses to skip finished runs.
"""
import functools
import hashlib
import json
import os
import os.path as osp
import re
import struct
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.fileio import load
from mmengine.runner import Runner, find_latest_checkpoint

from mmstim.analysis.cost import device_name
from mmstim.analysis.subnet_eval import (mean_subnet_accuracy,
                                         subnet_test_runner, test_subnets)
from mmstim.engine import (EpochSeedsHook, TrainingClockHook,
                           sampling_hook_config)
from mmstim.utils.report import dump_atomic

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHODS = ('baseline', 'droppath', 'st', 'stpp')
RULE = 'default'
#: The sizes of Fashion-MNIST's splits, recorded in the run settings.
TRAIN_IMAGES, TEST_IMAGES = 60000, 10000
TRAINING_RECORD = 'training.json'  # written next to a run's last checkpoint
STARTED_RECORD = 'training_started.json'  # a training's settings, at start
# A training record that differs from a run's settings only in these is reused
EVALUATION_SETTINGS = ('test_size', 'holdout', 'recalibration_images',
                       'subnet_rule', 'subnets')


@dataclass
class AccuracyBenchmark:
    """What an accuracy benchmark trains and evaluates, and where.

    Attributes:
        seeds: Runs of a seed share weights and data order.
        train_size, test_size: First N training / test images; 0: all.
        holdout: Evaluate on the last N training images, not trained on,
            instead of the test images; 0: the test images.
        overrides: Config overrides ``[METHOD:]KEY`` to value.
        subnets: Evaluate the full network and N - 1 subnets drawn with the
            run's seed; None: all.
        stage_blocks: Blocks per stage of the trained network; None: the
            configs'.
        work_dir: Runs train in ``<work_dir>/<method>/[tag/]seed<N>``.
        num_workers: Loader workers; None: the configs'.
        quick: A smoke test (quieter logs).
    """
    methods: Sequence[str] = METHODS
    epochs: int = 10
    seeds: Sequence[int] = (0, 1, 2)
    train_size: int = 0
    test_size: int = 0
    holdout: int = 0
    overrides: Dict[str, Any] = field(default_factory=dict)
    subnets: Optional[int] = None
    recalibration_images: int = 2000
    stage_blocks: Optional[List[int]] = None
    data_root: str = osp.join(REPO, 'data', 'fashion_mnist')
    work_dir: str = osp.join(REPO, 'work_dirs', 'benchmark_accuracy')
    num_workers: Optional[int] = None
    quick: bool = False
    force: bool = False
    out_json: str = osp.join(REPO, 'benchmarks', 'results',
                             'fashion_mnist.json')
    out_md: Optional[str] = None

    def __post_init__(self) -> None:
        self.out_md = self.out_md or osp.splitext(self.out_json)[0] + '.md'


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


def method_overrides(overrides: Dict[str, Any], method: str) -> dict:
    """A method's overrides, without ``METHOD:``, sorted, as JSON stores
    them; a key set for the method wins over the same key set for all."""
    chosen = {}
    for key, value in sorted(overrides.items(), key=lambda kv: ':' in kv[0]):
        scope, _, name = key.rpartition(':')
        if scope in ('', method):
            chosen[name] = json.loads(json.dumps(value))
    return dict(sorted(chosen.items()))


def has_key(cfg: Config, key: str) -> bool:
    """Whether a dotted key (list indices included) is in a config."""
    node: Any = cfg.to_dict()
    for part in key.split('.'):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif (isinstance(node, (list, tuple)) and part.isdigit()
              and int(part) < len(node)):
            node = node[int(part)]
        else:
            return False
    return True


def method_config(bench: AccuracyBenchmark, method: str) -> Config:
    """The method's config with its overrides applied.

    Raises:
        ValueError: When an overridden key is not in the method's config.
    """
    cfg = Config.fromfile(config_path(method))
    overrides = method_overrides(bench.overrides, method)
    for key in overrides:
        if not has_key(cfg, key):
            raise ValueError(
                f'--set {key}: the {method} config '
                f'({osp.relpath(config_path(method), REPO)}) has no {key!r}')
    cfg.merge_from_dict(overrides, allow_list_keys=True)
    return cfg


def evaluation_split(holdout: int) -> str:
    """The images a run is evaluated on, in words."""
    return (f'validation: last {holdout} training images'
            if holdout else 'test')


def run_settings(bench: AccuracyBenchmark, method: str) -> dict:
    """What a finished run must share with the benchmark to be reused."""
    overrides = method_overrides(bench.overrides, method)
    evaluation = (dict(holdout=bench.holdout) if bench.holdout else dict(
        test_size=bench.test_size or TEST_IMAGES))
    return dict(
        epochs=bench.epochs,
        train_size=bench.train_size or TRAIN_IMAGES - bench.holdout,
        **evaluation, recalibration_images=bench.recalibration_images,
        subnet_rule=RULE, config_digest=config_digest(config_path(method)),
        **({'stage_blocks': list(bench.stage_blocks)}
           if bench.stage_blocks else {}),
        **({'subnets': bench.subnets} if bench.subnets else {}),
        **({'overrides': overrides} if overrides else {}))


def is_current(run: Optional[dict], settings: dict) -> bool:
    """Whether a recorded run has exactly these settings (of
    :func:`run_settings`)."""
    return bool(run) and run.get('settings') == settings


def trained_alike(record: dict, settings: dict) -> bool:
    """Whether a training record's settings differ from these in
    :data:`EVALUATION_SETTINGS` only (training on the first M images is the
    same whether the images after them are held out or not)."""
    recorded, wanted = ({k: v for k, v in values.items()
                         if k not in EVALUATION_SETTINGS}
                        for values in (record.get('settings', {}), settings))
    return recorded == wanted


def num_images(data_root: str, split: str = 'train') -> int:
    """The number of images of an idx file (``train`` or ``t10k``)."""
    with open(osp.join(data_root, f'{split}-images-idx3-ubyte'), 'rb') as f:
        return struct.unpack('>II', f.read(8))[1]


def run_dir(bench: AccuracyBenchmark, method: str, seed: int) -> str:
    """The work dir of a run; runs with overrides get a subfolder, e.g.
    ``<work-dir>/stpp/model.distill_loss.amplitude=2.0/seed0``."""
    tag = ','.join(f'{key}={json.dumps(value)}' for key, value in
                   method_overrides(bench.overrides, method).items())
    tag = re.sub(r'[^\w.,=+-]', '', tag)
    return osp.join(bench.work_dir, method, *([tag] if tag else []),
                    f'seed{seed}')


def held_out_train_size(bench: AccuracyBenchmark) -> int:
    """``train_size``, or with ``holdout`` the images left to train on.

    Raises:
        ValueError: The held-out images leave fewer than ``train_size``.
    """
    if not bench.holdout:
        return bench.train_size
    available = num_images(bench.data_root) - bench.holdout
    if available <= 0 or bench.train_size > available:
        raise ValueError(
            f'--holdout {bench.holdout} leaves {max(available, 0)} training '
            f'images in {bench.data_root}; --train-size asks for '
            f'{bench.train_size or "all"}')
    return bench.train_size or available


def run_config(bench: AccuracyBenchmark, method: str, seed: int) -> Config:
    """The method's config with the benchmark's budget (no val loop); with
    ``holdout`` N the test loader holds the last N training images.

    Raises:
        ValueError: For an override key the config lacks, or when the
            held-out images leave fewer than ``train_size`` to train on.
    """
    cfg = method_config(bench, method)
    cfg.work_dir = run_dir(bench, method, seed)
    cfg.experiment_name = f'{method}_seed{seed}_{uuid.uuid4().hex[:8]}'
    cfg.randomness = dict(seed=seed)
    cfg.train_cfg.update(max_epochs=bench.epochs, val_interval=bench.epochs)
    cfg.param_scheduler.T_max = bench.epochs
    # every epoch, so that an interrupted training loses one epoch at most
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=1)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    if bench.stage_blocks:
        backbone = cfg.model.backbone
        cfg.model.backbone = dict(
            backbone, type='AnyDepthResNet', arch=backbone.type,
            stage_blocks=list(bench.stage_blocks))
    if bench.holdout:
        # MNIST datasets read the training file when test_mode is False;
        # a negative int is BaseDataset's "last N images".
        cfg.test_dataloader.dataset = dict(
            cfg.test_dataloader.dataset, split='train', test_mode=False,
            indices=-bench.holdout)
    sizes = dict(train_dataloader=held_out_train_size(bench),
                 test_dataloader=0 if bench.holdout else bench.test_size)
    for key, size in sizes.items():
        cfg[key].dataset.data_root = bench.data_root
        if size:
            cfg[key].dataset.indices = size
        if bench.num_workers is not None:
            cfg[key].num_workers = bench.num_workers
        if bench.num_workers == 0:
            cfg[key].persistent_workers = False
    if bench.quick:
        cfg.log_level = 'WARNING'
    return cfg


def recipe(cfg: Config) -> dict:
    """The hyperparameters of a method, as its config sets them."""
    model, hook = cfg.model, sampling_hook_config(cfg)
    result = dict(
        model=model.type, optimizer=dict(cfg.optim_wrapper.optimizer),
        batch_size=cfg.train_dataloader.batch_size,
        drop_path_rate=model.backbone.get('drop_path_rate', 0.0),
        **{k: model[k] for k in ('distill_loss', 'subnet_resize',
                                 'normalize_main_logits') if k in model},
        **({'subnet_sampling': hook} if hook else {}))
    return json.loads(json.dumps(result, default=str))


def now() -> str:
    """The UTC time, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


def resume_from(settings: dict, work_dir: str,
                force: bool = False) -> Optional[str]:
    """The last checkpoint of an interrupted training of these settings.

    Returns:
        str, optional: None when none started (or with ``force``); the
        settings of the training about to start are then recorded.
    """
    path = osp.join(work_dir, STARTED_RECORD)
    started = load(path) if osp.isfile(path) and not force else {}
    if trained_alike(started, settings):
        latest = find_latest_checkpoint(work_dir)
        if latest and osp.isfile(latest):
            return latest
    os.makedirs(work_dir, exist_ok=True)
    dump_atomic(dict(settings=settings, started_at=now()), path)
    return None


def train(cfg: Config, settings: dict, seed: int, label: str,
          force: bool = False) -> Tuple[dict, float]:
    """Train a run to its last epoch's checkpoint, resuming unless
    ``force``; ``label`` names the run in the log.

    Returns:
        tuple[dict, float]: The training record, also written to
        :data:`TRAINING_RECORD` in the work dir, and the seconds of training
        carried over from an interrupted start.
    """
    cfg.load_from = resume_from(settings, cfg.work_dir, force)
    cfg.resume = cfg.load_from is not None
    runner = Runner.from_cfg(cfg)
    if cfg.resume:
        print(f'resuming {label} from {cfg.load_from}', flush=True)
    clock = TrainingClockHook()
    runner.register_hook(clock)
    runner.register_hook(EpochSeedsHook(seed))
    runner.train()
    training = dict(settings=settings, train_time_s=clock.seconds(),
                    device=device_name(), checkpoint=last_checkpoint(cfg),
                    finished_at=now())
    dump_atomic(training, osp.join(cfg.work_dir, TRAINING_RECORD))
    return training, clock.carried


def last_checkpoint(cfg: Config) -> str:
    """The checkpoint of a run's last epoch."""
    return osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')


def train_and_evaluate(bench: AccuracyBenchmark, method: str,
                       seed: int) -> dict:
    """Train one run, unless its training finished; evaluate its subnets;
    return the run's record in the results file."""
    start, cfg = time.time(), run_config(bench, method, seed)
    settings, checkpoint = run_settings(bench, method), last_checkpoint(cfg)
    record = osp.join(cfg.work_dir, TRAINING_RECORD)
    training = load(record) if osp.isfile(record) and not bench.force else {}
    if trained_alike(training, settings) and osp.isfile(checkpoint):
        print(f'evaluating {method} seed {seed}: its training finished '
              f'{training["finished_at"]} on {training["device"]}; loading '
              f'{checkpoint}', flush=True)
        start -= training['train_time_s']  # the wall time counts it
    else:
        training, carried = train(cfg, settings, seed,
                                  f'{method} seed {seed}', bench.force)
        start -= carried  # the wall time counts the resumed training
    # A network of one block per stage has no subnet under the rule.
    subnets = dict(subnets=[]) if set(bench.stage_blocks or []) == {1} else (
        dict(subnets=bench.subnets) if bench.subnets else {})
    runner = subnet_test_runner(
        cfg, checkpoint, rule=RULE, seed=seed,
        recalibration_images=bench.recalibration_images, **subnets)
    results, _ = test_subnets(runner)
    keys = ('depths', 'top1', 'top1_recalibrated')
    return dict(
        method=method, seed=seed,
        config=osp.relpath(config_path(method), REPO), settings=settings,
        evaluated_split=evaluation_split(bench.holdout),
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
               bench: AccuracyBenchmark) -> None:
    """Add the runs of results files to ``data``, keeping current ones
    unless ``bench.force``."""
    for path in paths:
        if not osp.isfile(path):
            raise ValueError(f'--merge: {path} does not exist')
        for method, runs in load_results(path)['runs'].items():
            if method not in bench.methods:
                raise ValueError(
                    f'--merge: {path} holds runs of method {method!r}; '
                    f'compared methods are {list(bench.methods)}')
            for seed, run in runs.items():
                kept = data['runs'].get(method, {}).get(seed)
                if is_current(kept, run_settings(bench, method)) and \
                        not bench.force:
                    print(f'kept {method} seed {seed}: already finished '
                          'with the same settings')
                else:
                    data['runs'].setdefault(method, {})[seed] = run
                    print(f'merged {method} seed {seed} from {path}')
                    warn_if_other_settings(run, run_settings(bench, method))


def warn_if_other_settings(run: dict, settings: dict) -> None:
    """Say which settings of a merged run differ from the benchmark's,
    since the summary leaves such a run out."""
    recorded = run.get('settings', {})
    differ = sorted(key for key in {**recorded, **settings}
                    if recorded.get(key) != settings.get(key))
    if differ:
        print(f'  warning: it was run with other {", ".join(differ)} '
              f'({ {k: recorded.get(k) for k in differ} }) than these '
              f'({ {k: settings.get(k) for k in differ} }), so the summary '
              'leaves it out; merge with the options it was run with')


def command_line(bench: AccuracyBenchmark, threads: Optional[int] = None,
                 tool: str = osp.join('tools', 'benchmark',
                                      'accuracy.py')) -> List[str]:
    """The tool's path (``tool``, relative to the repository) and options
    (defaults left out) that run a benchmark, without the interpreter."""
    default = AccuracyBenchmark()
    line = [osp.join(REPO, tool)]
    for name, value in asdict(bench).items():
        if value == getattr(default, name) or name == 'out_md' or (
                value is None):
            continue
        option = '--' + ('set' if name == 'overrides' else name).replace(
            '_', '-')
        if isinstance(value, bool):
            line.append(option)
        elif isinstance(value, dict):
            line += [option] + [f'{k}={v}' for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            line += [option, *map(str, value)]
        else:
            line += [option, str(value)]
    return line + (['--threads', str(threads)] if threads else [])
