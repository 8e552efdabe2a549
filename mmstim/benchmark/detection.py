# Copyright (c) mmstim contributors. All rights reserved.
"""Detection pretraining, measured: one backbone source per detector.

The study (``docs/en/benchmarks.md``, "Detection pretraining") runs, per
seed s:

1. pretraining (the accuracy benchmark, seed s, the depth-study recipe:
   the first 10,000 Fashion-MNIST training images for 30 epochs, the last
   10,000 held out): the baseline and ST++ ResNet-14, and the 1-1-1
   architecture (ResNet-8) trained alone;
2. export of the 1-1-1 subnet of the baseline's and of ST++'s ResNet-14,
   BN re-estimated;
3. fine-tuning a RetinaNet (``configs/mmdet/fashion_mnist_det``, seed s)
   on the train canvases for every backbone source, evaluated on the val
   canvases and, once its settings are chosen, on the test canvases.

The choice made on validation, before any test number: for the pretrained
backbones, MMDet's frozen BN (and frozen first stage) against trainable BN,
by the baseline backbone's val mAP at the selection seed. Every run is one
process with its own log and JSON record; finished runs are skipped and an
interrupted fine-tuning resumes from its last epoch.
"""
import glob
import hashlib
import json
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import List, Optional

from mmengine.config import Config
from mmengine.fileio import load

from .scheduler import Job, running_elsewhere

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', 'mmdet', 'fashion_mnist_det')
ACCURACY_TOOL = osp.join(REPO, 'tools', 'benchmark', 'accuracy.py')
EXPORT_TOOL = osp.join(REPO, 'tools', 'model_converters', 'export_subnet.py')
DETECTION_TOOL = osp.join(REPO, 'tools', 'benchmark', 'detection.py')
PRETRAIN_CONFIGS = osp.join(REPO, 'configs', 'fashion_mnist')

#: Backbone settings the pretrained detectors are validated at.
BN_SETTINGS = dict(
    frozen=dict(frozen_stages=1, norm_eval=True,
                norm_cfg=dict(type='BN', requires_grad=False)),
    trainable=dict(frozen_stages=-1, norm_eval=False,
                   norm_cfg=dict(type='BN', requires_grad=True)))
#: The COCO metrics reported, as CocoMetric names them.
METRICS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s',
           'bbox_mAP_m', 'bbox_mAP_l')
#: Seconds per training iteration on this project's 2-core CPU, one thread,
#: no other load: for ``--plan`` only.
SECONDS_PER_ITER = dict(baseline=0.36, stpp=0.69, alone111=0.2, r14=0.8,
                        r8=0.6)


@dataclass(frozen=True)
class Pretraining:
    """A pretrained classifier: an accuracy-benchmark run.

    Attributes:
        name (str): ``baseline``, ``stpp`` or ``alone111``.
        method (str): The accuracy benchmark's method.
        stage_blocks (tuple, optional): Blocks per stage when not the
            configs' ResNet-14.
    """
    name: str
    method: str
    stage_blocks: Optional[tuple] = None


@dataclass(frozen=True)
class Source:
    """Where a detector's backbone comes from.

    Attributes:
        name (str): E.g. ``stpp_111``.
        config (str): The detector config's file name.
        pretraining (str, optional): The :class:`Pretraining` it loads;
            None for random initialisation.
        subnet (str, optional): The exported subnet's kept depths, e.g.
            ``'1,1,1'``; None for the pretrained network itself.
        depth_blocks (tuple): Blocks per stage of the backbone.
    """
    name: str
    config: str
    pretraining: Optional[str] = None
    subnet: Optional[str] = None
    depth_blocks: tuple = (2, 2, 2)


PRETRAININGS = {
    p.name: p
    for p in (Pretraining('baseline', 'baseline'), Pretraining(
        'stpp', 'stpp'), Pretraining('alone111', 'baseline', (1, 1, 1)))
}


def detector_config(backbone: str) -> str:
    """The file name of a detector config, e.g. ``r14-stpp-pre``."""
    return f'retinanet_{backbone}_fpn_12e_fashion-mnist-det.py'


SOURCES = {
    s.name: s
    for s in (
        Source('scratch', detector_config('r14-scratch')),
        Source('baseline', detector_config('r14-baseline-pre'), 'baseline'),
        Source('stpp', detector_config('r14-stpp-pre'), 'stpp'),
        Source('baseline_111', detector_config('r8-baseline-subnet-pre'),
               'baseline', '1,1,1', (1, 1, 1)),
        Source('stpp_111', detector_config('r8-stpp-subnet-pre'), 'stpp',
               '1,1,1', (1, 1, 1)),
        Source('alone_111', detector_config('r8-alone-pre'), 'alone111',
               None, (1, 1, 1)),
    )
}
SOURCE_NAMES = dict(
    scratch='random initialisation', baseline='baseline',
    stpp='ST++', baseline_111='baseline, 1-1-1 subnet',
    stpp_111='ST++, 1-1-1 subnet', alone_111='1-1-1 trained alone')


@dataclass
class DetectionStudy:
    """The study's settings; the defaults are the documented design.

    Attributes:
        work_dir (str): Runs, records and logs go here.
        fashion_mnist (str): Fashion-MNIST's idx folder (pretraining).
        det_root (str): The canvases (``fashion_mnist_detection.py``).
        sources (list): The backbone sources, names of :data:`SOURCES`.
        seeds (list): Pretraining seed s goes with fine-tuning seed s.
        selection_seed (int): The seed the BN setting is chosen at.
        pretrain_epochs (int): Epochs of pretraining.
        pretrain_images (int): First training images it uses.
        holdout (int): Last training images it leaves out (the val
            canvases' items).
        det_epochs (int): Epochs of fine-tuning.
        recalibration_images (int): Images to re-estimate a subnet's BN on.
        threads (int): Torch threads per process.
        num_workers (int): Data loader workers per process.
    """
    work_dir: str = osp.join(REPO, 'work_dirs', 'detection')
    fashion_mnist: str = osp.join(REPO, 'data', 'fashion_mnist')
    det_root: str = osp.join(REPO, 'data', 'fashion_mnist_det')
    sources: List[str] = field(default_factory=lambda: list(SOURCES))
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    selection_seed: int = 0
    pretrain_epochs: int = 30
    pretrain_images: int = 10000
    holdout: int = 10000
    det_epochs: int = 12
    recalibration_images: int = 2000
    threads: int = 1
    num_workers: int = 1

    def __post_init__(self):
        unknown = sorted(set(self.sources) - set(SOURCES))
        if unknown:
            raise ValueError(f'unknown backbone sources {unknown}; allowed: '
                             f'{list(SOURCES)}')
        if 'baseline' not in self.sources:
            raise ValueError('the sources must include baseline: the BN '
                             'setting is chosen on it and every difference '
                             'is taken against it')
        if self.selection_seed not in self.seeds:
            raise ValueError(f'selection_seed {self.selection_seed} is not '
                             f'in seeds {self.seeds}')

    # ----------------------------------------------------------- paths
    def path(self, *parts: str) -> str:
        """A path under the study's work dir."""
        return osp.join(self.work_dir, *parts)

    def pretrain_result(self, name: str, seed: int) -> str:
        """The accuracy benchmark's results JSON of a pretraining."""
        return self.path('pretrain', 'results', f'{name}_seed{seed}.json')

    def pretrain_checkpoint(self, name: str, seed: int) -> str:
        """The last checkpoint of a pretraining."""
        pre = PRETRAININGS[name]
        root = self.path('pretrain', *(['alone111'] if pre.stage_blocks
                                       else []))
        return osp.join(root, pre.method, f'seed{seed}',
                        f'epoch_{self.pretrain_epochs}.pth')

    def export_dir(self, source: str, seed: int) -> str:
        """Where a source's exported subnet is written."""
        return self.path('export', f'{source}_seed{seed}')

    def finetune_dir(self, run: str) -> str:
        """A fine-tuning's work dir."""
        return self.path('finetune', run)

    def record_path(self, run: str) -> str:
        """A fine-tuning's JSON record."""
        return self.path('finetune', 'results', f'{run}.json')

    # ----------------------------------------------------------- state
    def pretrained(self, name: str, seed: int) -> Optional[dict]:
        """The accuracy benchmark's record of a finished pretraining with
        this study's settings, or None."""
        pre, path = PRETRAININGS[name], self.pretrain_result(name, seed)
        if not osp.isfile(path):
            return None
        run = load(path)['runs'].get(pre.method, {}).get(str(seed))
        settings = (run or {}).get('settings', {})
        expected = dict(epochs=self.pretrain_epochs,
                        train_size=self.pretrain_images,
                        holdout=self.holdout,
                        stage_blocks=list(pre.stage_blocks)
                        if pre.stage_blocks else None)
        found = dict(settings, stage_blocks=settings.get('stage_blocks'))
        current = all(found.get(k) == v for k, v in expected.items())
        return run if current and osp.isfile(
            self.pretrain_checkpoint(name, seed)) else None

    def backbone_checkpoint(self, source: str, seed: int) -> Optional[str]:
        """The checkpoint a source's detector loads, None when it does not
        exist yet (or for random initialisation)."""
        src = SOURCES[source]
        if src.pretraining is None:
            return None
        if src.subnet:
            found = sorted(glob.glob(osp.join(self.export_dir(source, seed),
                                              '*.pth')))
            return found[0] if found else None
        return (self.pretrain_checkpoint(src.pretraining, seed)
                if self.pretrained(src.pretraining, seed) else None)

    def bn_choice(self) -> Optional[str]:
        """The BN setting with the higher val mAP of the baseline backbone
        at the selection seed (a tie goes to ``frozen``, MMDet's practice);
        None until both validation runs finished."""
        maps = {}
        for bn in BN_SETTINGS:
            record = self.finished(run_name('baseline', bn,
                                            self.selection_seed))
            if record is None:
                return None
            maps[bn] = record['val']['bbox_mAP']
        return max(BN_SETTINGS, key=lambda bn: maps[bn])

    def runs(self) -> List[dict]:
        """The fine-tunings whose settings are known now: per seed and
        source, with the chosen BN setting (both at the selection seed for
        the baseline); ``test`` says whether it is evaluated on test."""
        choice = self.bn_choice()
        runs = []
        for seed in self.seeds:
            for source in self.sources:
                if SOURCES[source].pretraining is None:
                    settings = ['trainable']
                elif seed == self.selection_seed and source == 'baseline':
                    settings = list(BN_SETTINGS)
                elif choice:
                    settings = [choice]
                else:
                    continue
                runs += [dict(source=source, bn=bn, seed=seed,
                              name=run_name(source, bn, seed),
                              test=SOURCES[source].pretraining is None
                              or bn == choice) for bn in settings]
        return runs

    def settings(self, source: str, bn: str, seed: int) -> dict:
        """What a fine-tuning's record must match to be reused."""
        checkpoint = self.backbone_checkpoint(source, seed)
        return dict(
            source=source, bn=bn, seed=seed, det_epochs=self.det_epochs,
            config_digest=config_digest(
                osp.join(CONFIG_DIR, SOURCES[source].config)),
            backbone_digest=file_digest(checkpoint) if checkpoint else None,
            data=dataset_digest(self.det_root))

    def finished(self, run: str, test: bool = False) -> Optional[dict]:
        """A fine-tuning's record when it is current (and evaluated on
        test, if ``test``), else None."""
        path = self.record_path(run)
        if not osp.isfile(path):
            return None
        record = load(path)
        settings = record.get('settings', {})
        current = settings == self.settings(settings.get('source'),
                                            settings.get('bn'),
                                            settings.get('seed'))
        return record if current and 'val' in record and (
            not test or 'test' in record) else None

    # ----------------------------------------------------------- jobs
    def jobs(self) -> List[Job]:
        """The jobs that can run now and have not finished: pretrainings,
        exports, then fine-tunings (validation runs first)."""
        jobs = []
        for seed in self.seeds:
            for name in self.needed_pretrainings():
                if not self.pretrained(name, seed):
                    jobs.append(self.pretrain_job(name, seed))
            for source in self.sources:
                src = SOURCES[source]
                if (src.subnet and self.pretrained(src.pretraining, seed)
                        and not self.backbone_checkpoint(source, seed)):
                    jobs.append(self.export_job(source, seed))
        for run in self.runs():
            ready = (SOURCES[run['source']].pretraining is None
                     or self.backbone_checkpoint(run['source'], run['seed']))
            if ready and not self.finished(run['name'], run['test']):
                jobs.append(self.finetune_job(run))
        return jobs

    def needed_pretrainings(self) -> List[str]:
        """The pretrainings the sources load, in :data:`PRETRAININGS`
        order."""
        needed = {SOURCES[s].pretraining for s in self.sources}
        return [name for name in PRETRAININGS if name in needed]

    def pretrain_job(self, name: str, seed: int) -> Job:
        """An accuracy-benchmark process that pretrains a backbone."""
        pre = PRETRAININGS[name]
        work_dir = self.path('pretrain', *(['alone111'] if pre.stage_blocks
                                           else []))
        command = [
            sys.executable, ACCURACY_TOOL, '--methods', pre.method, '--seeds',
            str(seed), '--train-size', str(self.pretrain_images), '--epochs',
            str(self.pretrain_epochs), '--holdout', str(self.holdout),
            '--subnets', '1', '--recalibration-images',
            str(self.recalibration_images), '--threads', str(self.threads),
            '--num-workers', str(self.num_workers), '--data-root',
            self.fashion_mnist, '--work-dir', work_dir, '--out-json',
            self.pretrain_result(name, seed)
        ]
        if pre.stage_blocks:
            command += ['--stage-blocks', *map(str, pre.stage_blocks)]
        return Job(f'pretrain_{name}_seed{seed}', tuple(command),
                   self.path('logs', f'pretrain_{name}_seed{seed}.log'),
                   cost=self.estimated_seconds('pretrain', name),
                   stage=self.stage(seed, 0), cwd=REPO)

    def export_job(self, source: str, seed: int) -> Job:
        """An ``export_subnet.py`` process writing a source's subnet."""
        src = SOURCES[source]
        config = osp.join(PRETRAIN_CONFIGS,
                          f'resnet14_{src.pretraining}_fashion-mnist.py')
        command = (sys.executable, EXPORT_TOOL, config,
                   self.pretrain_checkpoint(src.pretraining, seed),
                   '--subnet', src.subnet, '--out-dir',
                   self.export_dir(source, seed), '--recalibration-images',
                   str(self.recalibration_images), '--seed', str(seed),
                   '--force')
        return Job(f'export_{source}_seed{seed}', command,
                   self.path('logs', f'export_{source}_seed{seed}.log'),
                   cost=60, stage=self.stage(seed, 1), cwd=REPO)

    def finetune_job(self, run: dict) -> Job:
        """A ``detection.py --run`` process: trains (or resumes) a detector
        and evaluates it."""
        command = (sys.executable, DETECTION_TOOL, '--run', run['name'],
                   *self.command_options())
        return Job(f'finetune_{run["name"]}', command,
                   self.path('logs', f'finetune_{run["name"]}.log'),
                   cost=self.estimated_seconds('finetune', run['source']),
                   stage=self.stage(run['seed'], 2), cwd=REPO)

    def stage(self, seed: int, step: int) -> int:
        """The order jobs start in: the selection seed's first (its
        validation runs decide the others' settings), then seed by seed;
        within a seed pretraining (0), export (1), fine-tuning (2)."""
        order = [self.selection_seed] + [
            s for s in self.seeds if s != self.selection_seed]
        return 10 * order.index(seed) + step

    def command_options(self) -> List[str]:
        """The detection tool's options that give these settings."""
        return [
            '--work-dir', self.work_dir, '--fashion-mnist', self.fashion_mnist,
            '--det-root', self.det_root, '--sources', *self.sources,
            '--seeds', *map(str, self.seeds), '--selection-seed',
            str(self.selection_seed), '--pretrain-epochs',
            str(self.pretrain_epochs), '--pretrain-images',
            str(self.pretrain_images), '--holdout', str(self.holdout),
            '--det-epochs', str(self.det_epochs), '--recalibration-images',
            str(self.recalibration_images), '--threads', str(self.threads),
            '--num-workers', str(self.num_workers)
        ]

    def estimated_seconds(self, stage: str, name: str) -> float:
        """A job's estimated time, from :data:`SECONDS_PER_ITER`."""
        if stage == 'pretrain':
            iters = self.pretrain_epochs * -(-self.pretrain_images // 128)
            return iters * SECONDS_PER_ITER[name]
        canvases = len(load(osp.join(self.det_root, 'annotations',
                                     'train.json'))['images']) if osp.isfile(
                osp.join(self.det_root, 'annotations', 'train.json')) else 0
        iters = self.det_epochs * -(-canvases // 8)
        net = 'r8' if SOURCES[name].depth_blocks == (1, 1, 1) else 'r14'
        return iters * SECONDS_PER_ITER[net]

    def plan(self) -> List[str]:
        """One line per run of the whole study, in start order, with its
        state (done, ready or waiting) and estimated time; fine-tunings
        whose BN setting is not chosen yet show it as ``<choice>``."""
        jobs = self.jobs()
        ready = {job.name for job in jobs}
        running = {job.name for job in jobs if running_elsewhere(job)}
        choice = self.bn_choice() or '<choice>'
        lines = []

        def add(name: str, stage: int, seconds: float, done: bool) -> None:
            state = 'done' if done else 'running' if name in running else (
                'ready' if name in ready else 'waiting')
            lines.append((stage, f'{name}: {state}, about '
                          f'{seconds / 60:.0f} min'))

        for seed in self.seeds:
            for name in self.needed_pretrainings():
                add(f'pretrain_{name}_seed{seed}', self.stage(seed, 0),
                    self.estimated_seconds('pretrain', name),
                    bool(self.pretrained(name, seed)))
            for source in self.sources:
                if SOURCES[source].subnet:
                    add(f'export_{source}_seed{seed}', self.stage(seed, 1),
                        60, bool(self.backbone_checkpoint(source, seed)))
                pretrained = SOURCES[source].pretraining is not None
                bns = (['trainable'] if not pretrained else list(BN_SETTINGS)
                       if seed == self.selection_seed
                       and source == 'baseline' else [choice])
                for bn in bns:
                    name = run_name(source, bn, seed)
                    add(f'finetune_{name}', self.stage(seed, 2),
                        self.estimated_seconds('finetune', source),
                        bn in BN_SETTINGS and bool(self.finished(
                            name, test=not pretrained or bn == choice)))
        total = sum(float(line.rsplit('about ', 1)[1].split()[0])
                    for _, line in lines if ': done' not in line)
        return [line for _, line in sorted(lines, key=lambda x: x[0])] + [
            f'left: about {total / 60:.1f} process-hours']


def run_name(source: str, bn: str, seed: int) -> str:
    """E.g. ``stpp_111_frozen_seed1``."""
    return f'{source}_{bn}_seed{seed}'


def parse_run_name(name: str) -> dict:
    """The source, BN setting and seed of a :func:`run_name`."""
    rest, _, seed = name.rpartition('_seed')
    source, _, bn = rest.rpartition('_')
    if source not in SOURCES or bn not in BN_SETTINGS or not seed.isdigit():
        raise ValueError(f'{name!r} is not a fine-tuning run name '
                         f'(<source>_<bn>_seed<N>, source in {list(SOURCES)}'
                         f', bn in {list(BN_SETTINGS)})')
    return dict(source=source, bn=bn, seed=int(seed))


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes, first 16 hex digits."""
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def config_digest(path: str) -> str:
    """A digest of a config's content."""
    text = json.dumps(Config.fromfile(path).to_dict(), sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dataset_digest(det_root: str) -> Optional[str]:
    """The canvases' MD5s from their manifest, joined; None without one."""
    path = osp.join(det_root, 'annotations', 'manifest.json')
    if not osp.isfile(path):
        return None
    splits = load(path)['splits']
    return ','.join(f'{s}:{splits[s]["md5"]}' for s in sorted(splits))
