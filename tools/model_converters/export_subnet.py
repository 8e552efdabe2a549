# Copyright (c) mmstim contributors. All rights reserved.
"""Export a subnet of a trained network as a standalone, smaller model.

    python tools/model_converters/export_subnet.py CONFIG CHECKPOINT \\
        --subnet 3,3,4,3 --out-dir DIR [--recalibration-images 2000]
        [--seed 0] [--force] [--trust-checkpoint]

``--subnet`` gives the kept depth of every stage (``3,3,4,3``: the first
blocks of each stage) or a keep-mask per stage (``111,1011,110101,111``).
The dropped blocks are removed, not skipped: DIR receives a config
(``ImageClassifier`` with an ``AnyDepthResNet`` backbone) and a checkpoint
with plain ``ImageClassifier`` keys, which MMPretrain's tools, its
``mmpretrain.apis`` and MMDet (the ``backbone.`` weights) load as they are.
BN statistics are re-estimated for the subnet on the first
``--recalibration-images`` training images (default 2000, loader seeded by
``--seed``); 0 keeps the full network's. Everything is checked before
anything is written.
"""
import argparse
import copy
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import List, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from mmstim import __version__
from mmstim.engine import recalibrated_bn
from mmstim.models.subnets import (Mask, SubnetSpec, find_residual_stages,
                                   kept_depths, run_as_subnet, to_mask)
from mmstim.utils.checkpoint import load_checkpoint_file, load_weights

#: Keys of the training recipe that the exported classifier does not take.
STIMULATIVE_KEYS = ('distill_loss', 'subnet_resize', 'normalize_main_logits')


def parse_subnet(text: str, depths: Tuple[int, ...]) -> SubnetSpec:
    """``3,3,4,3`` (kept depths) or ``111,1011,...`` (a mask per stage).

    An item is a mask when it has as many 0/1 digits as its stage has
    blocks; a kept depth otherwise.
    """
    items = text.split(',')
    if len(items) == len(depths) and all(
            len(item) == depth and set(item) <= {'0', '1'}
            for item, depth in zip(items, depths)):
        return [[c == '1' for c in item] for item in items]
    try:
        return [int(item) for item in items]
    except ValueError:
        raise ValueError(
            f'--subnet {text!r}: give a kept depth per stage (e.g. '
            f'{",".join(map(str, depths))} for the full network) or a 0/1 '
            f'mask per stage of {"/".join(map(str, depths))} digits.')


def subnet_config(cfg: Config, mask: Mask) -> Config:
    """The config of the subnet as a plain ``ImageClassifier``."""
    cfg = copy.deepcopy(cfg)
    backbone = dict(cfg.model.backbone)
    backbone.pop('init_cfg', None)
    if backbone['type'] != 'AnyDepthResNet':
        backbone['arch'] = backbone.pop('type')
    backbone.update(type='AnyDepthResNet', stage_blocks=kept_depths(mask))
    model = {k: v for k, v in cfg.model.items()
             if k not in STIMULATIVE_KEYS + ('init_cfg', 'pretrained')}
    cfg.model = dict(model, type='ImageClassifier', backbone=backbone)
    cfg.custom_hooks = [
        hook for hook in cfg.get('custom_hooks', None) or []
        if not str(hook['type']).endswith('SubnetSamplingHook')
    ]
    if (cfg.get('model_wrapper_cfg') or {}).get('type') == 'StimulativeDDP':
        cfg.model_wrapper_cfg = None
    cfg.load_from, cfg.resume = None, False
    cfg.pop('work_dir', None)
    imports = (cfg.get('custom_imports') or {}).get('imports', [])
    if 'mmstim' not in imports:
        cfg.custom_imports = dict(
            imports=list(imports) + ['mmstim'], allow_failed_imports=False)
    return cfg


def subnet_state_dict(state_dict: dict, stages, mask: Mask) -> OrderedDict:
    """The weights of the kept blocks, renumbered within each stage."""
    renamed = {}
    for stage, stage_mask in zip(stages, mask):
        kept = [i for i, keep in enumerate(stage_mask) if keep]
        for index in range(len(stage_mask)):
            renamed[f'backbone.{stage.name}.{index}.'] = (
                f'backbone.{stage.name}.{kept.index(index)}.'
                if index in kept else None)
    result = OrderedDict()
    for key, value in state_dict.items():
        prefix = next((p for p in renamed if key.startswith(p)), None)
        if prefix is None:
            result[key] = value
        elif renamed[prefix] is not None:
            result[renamed[prefix] + key[len(prefix):]] = value
    return result


def export_subnet(config: str,
                  checkpoint: str,
                  subnet: str,
                  out_dir: str,
                  recalibration_images: int = 2000,
                  seed: int = 0,
                  force: bool = False,
                  trust: bool = False) -> List[str]:
    """Write the subnet's config and checkpoint into ``out_dir``.

    Returns:
        list[str]: The config and checkpoint paths written.

    Raises:
        ValueError: The subnet does not fit the backbone, or
            ``recalibration_images`` is negative.
        RuntimeError: The checkpoint does not match the config.
        FileExistsError: ``out_dir`` holds this export and not ``force``.
    """
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.get('data_preprocessor')))
    load_weights(model, checkpoint, trust=trust)
    stages = find_residual_stages(model.backbone)
    mask = to_mask(stages, parse_subnet(
        subnet, tuple(len(stage) for stage in stages)))
    if recalibration_images < 0:
        raise ValueError(f'--recalibration-images must be >= 0, got '
                         f'{recalibration_images}.')
    name = (f'{osp.splitext(osp.basename(config))[0]}_subnet-'
            f'{"-".join(map(str, kept_depths(mask)))}')
    if not all(all(m[:d]) for m, d in zip(mask, kept_depths(mask))):
        name += '-mask-' + '-'.join(''.join(str(int(k)) for k in m)
                                    for m in mask)
    paths = [osp.join(out_dir, f'{name}.py'), osp.join(out_dir, f'{name}.pth')]
    existing = [path for path in paths if osp.exists(path)]
    if existing and not force:
        raise FileExistsError(
            f'{out_dir} already holds this export ({", ".join(existing)}); '
            f'pass --force to overwrite it.')
    with run_as_subnet(stages, mask):
        if recalibration_images:
            loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
            with recalibrated_bn(model, loader, recalibration_images):
                state_dict = copy.deepcopy(model.state_dict())
        else:
            state_dict = copy.deepcopy(model.state_dict())
    meta = load_checkpoint_file(checkpoint, trust=trust).get('meta') or {}
    os.makedirs(out_dir, exist_ok=True)
    subnet_config(cfg, mask).dump(paths[0])
    torch.save(
        dict(meta=dict(
            {k: meta[k] for k in ('dataset_meta', ) if k in meta},
            mmstim_version=__version__,
            source=dict(config=config, checkpoint=osp.basename(checkpoint)),
            subnet=dict(depths=list(kept_depths(mask)),
                        mask=[[int(k) for k in m] for m in mask]),
            recalibration_images=recalibration_images, seed=seed),
             state_dict=subnet_state_dict(state_dict, stages, mask)),
        paths[1])
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config of the trained network')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument(
        '--subnet', required=True,
        help='kept depth per stage (3,3,4,3) or 0/1 mask per stage')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--recalibration-images', type=int, default=2000,
        help='training images to re-estimate BN on for the subnet; 0 keeps '
        "the full network's statistics (default: 2000)")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the training loader (default: 0)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite an export in --out-dir')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='load CHECKPOINT with full unpickling (only files you trust)')
    args = parser.parse_args(argv)
    try:
        paths = export_subnet(args.config, args.checkpoint, args.subnet,
                              args.out_dir, args.recalibration_images,
                              args.seed, args.force, args.trust_checkpoint)
    except (OSError, RuntimeError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print('wrote ' + ' and '.join(paths))
    return 0


if __name__ == '__main__':
    sys.exit(main())
