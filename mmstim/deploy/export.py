# Copyright (c) mmstim contributors. All rights reserved.
"""Export a subnet of a trained network as a standalone, smaller model.

The dropped blocks are removed, not skipped: the result is a config (a
plain ``ImageClassifier`` whose backbone has only the kept blocks, see
``backbone_configs.py``) and a checkpoint with ``ImageClassifier``'s keys.
Nothing is written unless the exported model, built from the written
config, loads the written checkpoint strictly and gives the logits of the
source network run as that subnet.
"""
import copy
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from mmstim import __version__
from mmstim.engine import hooks_without_sampling, recalibrated_bn
from mmstim.models.subnets import (Mask, find_residual_stages, full_mask,
                                   kept_depths, run_as_subnet, to_mask)
from mmstim.utils.checkpoint import load_checkpoint_file, load_weights
from .backbone_configs import subnet_backbone_config, subnet_state_dict

#: Keys of the stimulative recipe that ``ImageClassifier`` does not take.
STIMULATIVE_KEYS = ('distill_loss', 'subnet_resize', 'normalize_main_logits')
#: Largest difference of the exported model's logits from the source's.
TOLERANCE = 1e-4
#: Pipeline transforms whose size gives the network's input side.
SIZED_TRANSFORMS = {'CenterCrop': 'crop_size', 'RandomCrop': 'crop_size',
                    'RandomResizedCrop': 'scale', 'Resize': 'scale'}


def parse_subnet(text: str, depths: Sequence[int]) -> List:
    """Kept depths (``3,3,4,3``) or a 0/1 mask per stage (``111,1011``).

    An item is a mask when every item has as many 0/1 digits as its stage
    has blocks; the items are kept depths otherwise.

    Raises:
        ValueError: Neither form.
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


def input_shape(cfg: Config) -> Tuple[int, int, int]:
    """``(channels, height, width)`` of the network's inputs.

    Channels from the backbone's ``in_channels`` (default 3); the side from
    its ``img_size``, else from the last sized transform of the test, then
    the training pipeline, else 224.
    """
    backbone = cfg.model.backbone
    channels = backbone.get('in_channels', 3)
    side = backbone.get('img_size')
    for loader in ('test_dataloader', 'train_dataloader'):
        if side is not None:
            break
        pipeline = ((cfg.get(loader) or {}).get('dataset')
                    or {}).get('pipeline') or []
        for transform in pipeline:
            key = SIZED_TRANSFORMS.get(str(transform.get('type')))
            if key and transform.get(key) is not None:
                side = transform[key]
    side = side if side is not None else 224
    height, width = (side, side) if isinstance(side, int) else side
    return channels, height, width


def build_classifier(cfg: Config) -> nn.Module:
    """The classifier of a config, with its data preprocessor."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.get('data_preprocessor')))


def exported_config(cfg: Config, backbone: nn.Module, mask: Mask) -> Config:
    """The config of the subnet as a plain ``ImageClassifier``.

    The stimulative recipe's keys, its sampling hook (recognised by its
    registered class) and wrapper, ``load_from`` and ``work_dir`` go.
    """
    cfg = copy.deepcopy(cfg)
    model = {k: v for k, v in cfg.model.items()
             if k not in STIMULATIVE_KEYS + ('init_cfg', 'pretrained')}
    cfg.model = dict(model, type='ImageClassifier',
                     backbone=subnet_backbone_config(cfg.model.backbone,
                                                     backbone, mask))
    cfg.custom_hooks = hooks_without_sampling(cfg)
    if (cfg.get('model_wrapper_cfg') or {}).get('type') == 'StimulativeDDP':
        cfg.model_wrapper_cfg = None
    cfg.load_from, cfg.resume = None, False
    cfg.pop('work_dir', None)
    imports = (cfg.get('custom_imports') or {}).get('imports', [])
    if 'mmstim' not in imports:
        cfg.custom_imports = dict(
            imports=list(imports) + ['mmstim'], allow_failed_imports=False)
    return cfg


def has_batch_norm(model: nn.Module) -> bool:
    """Whether a model has BN layers that keep running statistics."""
    return any(
        isinstance(m, _BatchNorm) and m.track_running_stats
        for m in model.modules())


def export_name(config: str, mask: Mask) -> str:
    """``<config>_subnet-<depths>[-mask-<mask>]``, or ``<config>_full``."""
    stem = osp.splitext(osp.basename(config))[0]
    depths = kept_depths(mask)
    if all(all(m) for m in mask):
        return f'{stem}_full'
    name = f'{stem}_subnet-{"-".join(map(str, depths))}'
    if not all(all(m[:d]) for m, d in zip(mask, depths)):
        name += '-mask-' + '-'.join(''.join(str(int(k)) for k in m)
                                    for m in mask)
    return name


def subnet_weights(model: nn.Module, mask: Mask, cfg: Config,
                   recalibration_images: int, seed: int) -> dict:
    """The full network's state dict with the subnet's BN statistics.

    BN is re-estimated on ``recalibration_images`` training images when the
    model has BN and the subnet is not the full network.
    """
    stages = find_residual_stages(model.backbone)
    recalibrate = (recalibration_images > 0 and has_batch_norm(model)
                   and mask != full_mask(stages))
    with run_as_subnet(stages, mask):
        if not recalibrate:
            return copy.deepcopy(model.state_dict())
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
        with recalibrated_bn(model, loader, recalibration_images):
            return copy.deepcopy(model.state_dict())


def check_logits(expected: torch.Tensor, model: nn.Module,
                 inputs: torch.Tensor, what: str) -> float:
    """Compare ``model``'s logits with ``expected``.

    Returns:
        float: The largest absolute difference.

    Raises:
        RuntimeError: It is above :data:`TOLERANCE`.
    """
    model.eval()
    with torch.no_grad():
        got = model(inputs, mode='tensor')
    difference = (got - expected).abs().max().item()
    if not difference <= TOLERANCE:
        raise RuntimeError(
            f'{what} differs from the source network run as the subnet by '
            f'{difference:.3g} (tolerance {TOLERANCE}): this backbone cannot '
            f'be exported exactly; nothing was written.')
    return difference


def export_subnet(config: str,
                  checkpoint: str,
                  subnet: Optional[str],
                  out_dir: str,
                  recalibration_images: int = 2000,
                  seed: int = 0,
                  force: bool = False,
                  trust: bool = False,
                  shape: Optional[Tuple[int, int, int]] = None) -> List[str]:
    """Write the subnet's config and checkpoint into ``out_dir``.

    Args:
        config (str): Config of the trained network.
        checkpoint (str): Its checkpoint.
        subnet (str, optional): Kept depths or 0/1 masks per stage, see
            :func:`parse_subnet`; None exports the full network.
        out_dir (str): Folder to write into.
        recalibration_images (int): Training images on which BN statistics
            are re-estimated for the subnet; 0 keeps the full network's.
            Defaults to 2000.
        seed (int): Seed of the training loader. Defaults to 0.
        force (bool): Overwrite an existing export. Defaults to False.
        trust (bool): Unpickle the checkpoint fully. Defaults to False.
        shape (tuple, optional): ``(C, H, W)`` of the inputs on which the
            export is checked; defaults to :func:`input_shape`.

    Returns:
        list[str]: The config and checkpoint paths written.

    Raises:
        ValueError: The subnet does not fit the backbone, the backbone has
            no export rule, or ``recalibration_images`` is negative.
        RuntimeError: The checkpoint does not match the config, or the
            exported model does not reproduce the subnet.
        FileExistsError: ``out_dir`` holds this export and not ``force``.
    """
    if recalibration_images < 0:
        raise ValueError(f'--recalibration-images must be >= 0, got '
                         f'{recalibration_images}.')
    cfg = Config.fromfile(config)
    model = build_classifier(cfg)
    load_weights(model, checkpoint, trust=trust)
    stages = find_residual_stages(model.backbone)
    mask = (full_mask(stages) if subnet is None else to_mask(
        stages, parse_subnet(subnet, [len(stage) for stage in stages])))
    name = export_name(config, mask)
    paths = [osp.join(out_dir, f'{name}.py'), osp.join(out_dir, f'{name}.pth')]
    existing = [path for path in paths if osp.exists(path)]
    if existing and not force:
        raise FileExistsError(
            f'{out_dir} already holds this export ({", ".join(existing)}); '
            f'pass --force to overwrite it.')
    new_cfg = exported_config(cfg, model.backbone, mask)
    state_dict = subnet_weights(model, mask, cfg, recalibration_images, seed)
    inputs = torch.rand(2, *(shape or input_shape(cfg)),
                        generator=torch.Generator().manual_seed(seed))
    model.load_state_dict(state_dict)
    model.eval()
    with run_as_subnet(stages, mask), torch.no_grad():
        expected = model(inputs, mode='tensor')
    meta = load_checkpoint_file(checkpoint, trust=trust).get('meta') or {}
    saved = dict(
        meta=dict({k: meta[k] for k in ('dataset_meta', ) if k in meta},
                  mmstim_version=__version__,
                  source=dict(config=config,
                              checkpoint=osp.basename(checkpoint)),
                  subnet=dict(depths=list(kept_depths(mask)),
                              mask=[[int(k) for k in m] for m in mask]),
                  recalibration_images=recalibration_images, seed=seed),
        state_dict=subnet_state_dict(state_dict, stages, mask))
    exported = build_classifier(new_cfg)
    exported.load_state_dict(saved['state_dict'], strict=True)
    check_logits(expected, exported, inputs, 'The exported model')
    write_checked(paths, lambda tmp: (new_cfg.dump(tmp[0]),
                                      torch.save(saved, tmp[1])),
                  lambda tmp: check_files(tmp, expected, inputs))
    return paths


def check_files(paths: Sequence[str], expected: torch.Tensor,
                inputs: torch.Tensor) -> None:
    """Build a written config, load its checkpoint strictly, compare."""
    model = build_classifier(Config.fromfile(paths[0]))
    state = torch.load(paths[1], map_location='cpu', weights_only=True)
    model.load_state_dict(state['state_dict'], strict=True)
    check_logits(expected, model, inputs, f'The written {paths[0]}')


def write_checked(paths: Sequence[str], write: Callable[[List[str]], None],
                  check: Callable[[List[str]], None]) -> None:
    """Write files under temporary names, check them, then move them.

    Args:
        paths (Sequence[str]): The final paths, all in one folder.
        write (Callable): Writes the files at the temporary paths it gets.
        check (Callable): Raises if the temporary files are wrong.

    On any error nothing is left behind, not even a folder this created.
    """
    out_dir = osp.dirname(paths[0]) or '.'
    created = not osp.isdir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix='.export-', dir=out_dir)
    try:
        tmp = [osp.join(tmp_dir, osp.basename(path)) for path in paths]
        write(tmp)
        check(tmp)
        for src, dst in zip(tmp, paths):
            os.replace(src, dst)
    except BaseException:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
