# Copyright (c) mmstim contributors. All rights reserved.
"""One fine-tuning of the detection study: train or resume, then evaluate."""
import os
import os.path as osp
import time
from typing import Dict, Optional

import numpy as np
from mmengine.config import Config
from mmengine.fileio import load

from mmstim.utils.report import dump_atomic
from .detection import (BN_SETTINGS, CONFIG_DIR, METRICS, SOURCES,
                        DetectionStudy, parse_run_name)


def finetune_config(study: DetectionStudy, run: str) -> Config:
    """The detector config of a fine-tuning run, with the study's data,
    epochs, seed, backbone checkpoint and BN setting (no val loop: the run
    is evaluated after training, by :func:`evaluate`)."""
    spec = parse_run_name(run)
    source = SOURCES[spec['source']]
    cfg = Config.fromfile(osp.join(CONFIG_DIR, source.config))
    cfg.work_dir = study.finetune_dir(run)
    cfg.randomness = dict(seed=spec['seed'])
    cfg.train_cfg.update(max_epochs=study.det_epochs,
                         val_interval=study.det_epochs)
    steps = cfg.param_scheduler[-1]
    steps.update(end=study.det_epochs, milestones=[
        max(1, round(study.det_epochs * m / cfg.max_epochs))
        for m in steps.milestones])
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = study.det_root
        loader.num_workers = study.num_workers
        loader.persistent_workers = study.num_workers > 0
        if split != 'train':
            cfg[f'{split}_evaluator'].ann_file = osp.join(
                study.det_root, 'annotations', f'{split}.json')
    if source.pretraining is not None:
        cfg.model.backbone.update(BN_SETTINGS[spec['bn']])
        cfg.model.backbone.init_cfg.checkpoint = study.backbone_checkpoint(
            spec['source'], spec['seed'])
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    # checkpoints that load with torch.load(weights_only=True)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='mmpretrain.SafeCheckpointHook')]
    return cfg


def evaluate(cfg: Config, checkpoint: str, split: str) -> Dict[str, float]:
    """COCO bbox metrics of a trained detector on the ``val`` or ``test``
    canvases, through MMEngine's test loop."""
    from mmstim.utils.launch import build_det_runner
    ev = cfg.copy()
    ev.work_dir = osp.join(cfg.work_dir, f'eval_{split}')
    ev.train_dataloader = ev.train_cfg = ev.optim_wrapper = None
    ev.param_scheduler = None
    ev.model.backbone.init_cfg = None
    ev.test_dataloader = cfg.test_dataloader.copy()
    ev.test_dataloader.dataset = dict(
        cfg.test_dataloader.dataset,
        ann_file=f'annotations/{split}.json')
    ev.test_evaluator = dict(cfg.test_evaluator, ann_file=osp.join(
        ev.test_dataloader.dataset.data_root, 'annotations', f'{split}.json'))
    ev.load_from, ev.resume = checkpoint, False
    metrics = {key.split('/')[-1]: float(value)
               for key, value in build_det_runner(ev).test().items()}
    # CocoMetric returns nothing when the detector detected nothing
    return {metric: metrics.get(metric, 0.0) for metric in METRICS}


def run_finetune(study: DetectionStudy, run: str) -> dict:
    """Train (or resume) one detector, evaluate it on val and, when the
    run is in the study's final set, on test; write and return its record.

    Raises:
        FileNotFoundError: The backbone checkpoint the run loads does not
            exist yet (its pretraining or export has not finished).
    """
    import torch
    from mmengine.runner import find_latest_checkpoint

    from mmstim.utils.checkpoint import register_safe_checkpoint_loader
    from mmstim.utils.launch import build_det_runner
    register_safe_checkpoint_loader()
    spec = parse_run_name(run)
    planned = {r['name']: r for r in study.runs()}
    source = SOURCES[spec['source']]
    if source.pretraining and not study.backbone_checkpoint(
            spec['source'], spec['seed']):
        raise FileNotFoundError(
            f'{run}: the backbone checkpoint of {spec["source"]} seed '
            f'{spec["seed"]} does not exist yet; run the study to pretrain '
            'and export it first')
    torch.set_num_threads(study.threads)
    cfg = finetune_config(study, run)
    settings = study.settings(**spec)
    final = osp.join(cfg.work_dir, f'epoch_{study.det_epochs}.pth')
    record = load(study.record_path(run)) if osp.isfile(
        study.record_path(run)) else {}
    if record.get('settings') != settings:
        record = dict(settings=settings)
    if not osp.isfile(final):
        started = time.time()
        cfg.resume = bool(find_latest_checkpoint(cfg.work_dir))
        build_det_runner(cfg).train()
        record['train_s'] = record.get('train_s', 0) + time.time() - started
    record['seconds_per_iter'] = median_iteration_seconds(cfg.work_dir)
    if 'val' not in record:
        record['val'] = evaluate(cfg, final, 'val')
    if planned.get(run, {}).get('test') and 'test' not in record:
        record['test'] = evaluate(cfg, final, 'test')
    os.makedirs(osp.dirname(study.record_path(run)), exist_ok=True)
    dump_atomic(record, study.record_path(run))
    return record


def median_iteration_seconds(work_dir: str) -> Optional[float]:
    """The median logged training-iteration time of a run."""
    from mmstim.analysis.logs import logged_train_scalars
    times = [r['time'] for r in logged_train_scalars(work_dir).values()
             if 'time' in r]
    return float(np.median(times)) if times else None
