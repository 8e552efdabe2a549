# Copyright (c) mmstim contributors. All rights reserved.
"""The config of a backbone with only the kept blocks of a subnet.

One rule per family writes MMPretrain's own class with fewer blocks where
its ``arch`` can say so (ConvNeXt, ViT/DeiT, Swin) and a small registered
class of mmstim where it cannot (``AnyDepthResNet`` for the ResNet family,
``AnyDepthRegNet``, ``AnyDepthMobileNetV2``). The kept blocks keep their
order and are renumbered within their stage, so the weights of the source
load into the result under :func:`subnet_state_dict`'s names.
"""
import copy
from collections import OrderedDict
from typing import Callable, Dict, List, Sequence

import torch.nn as nn
from mmpretrain.models.backbones import (ConvNeXt, DistilledVisionTransformer,
                                         MobileNetV2, RegNet, Res2Net, ResNeSt,
                                         ResNet, ResNet_CIFAR, ResNetV1c,
                                         ResNetV1d, ResNeXt, SEResNet,
                                         SEResNeXt, SwinTransformer,
                                         VisionTransformer)

from mmstim.models.backbones import AnyDepthMobileNetV2, AnyDepthRegNet
from mmstim.models.subnets import Mask, ResidualStage, kept_depths

#: (backbone config, built backbone, mask) -> the subnet's backbone config.
BackboneRule = Callable[[dict, nn.Module, Mask], dict]

#: Exact backbone class -> its rule (subclasses are not assumed to share
#: their parent's arguments, so each class is listed).
_RULES: Dict[type, BackboneRule] = {}


def _rule(*classes: type) -> Callable[[BackboneRule], BackboneRule]:

    def register(rule: BackboneRule) -> BackboneRule:
        for cls in classes:
            _RULES[cls] = rule
        return rule

    return register


def exportable_backbones() -> List[str]:
    """Names of the backbone classes whose subnets can be exported."""
    return sorted(cls.__name__ for cls in _RULES)


def subnet_backbone_config(cfg: dict, backbone: nn.Module,
                           mask: Mask) -> dict:
    """The config of ``backbone`` with the kept blocks of ``mask`` only.

    Args:
        cfg (dict): The backbone's config (``model.backbone``).
        backbone (nn.Module): The backbone built from it.
        mask (Mask): Keep-mask per residual stage.

    Returns:
        dict: A backbone config without ``init_cfg`` or ``pretrained``.

    Raises:
        ValueError: The backbone's class has no export rule, or the subnet
            cannot be written as a config of it.
    """
    rule = _RULES.get(type(backbone))
    if rule is None:
        raise ValueError(
            f'Exporting a subnet of {type(backbone).__name__} is not '
            f'supported; exportable backbones: '
            f'{", ".join(exportable_backbones())}.')
    cfg = copy.deepcopy(dict(cfg))
    for key in ('init_cfg', 'pretrained'):
        cfg.pop(key, None)
    return rule(cfg, backbone, mask)


@_rule(ResNet, ResNetV1c, ResNetV1d, ResNeXt, SEResNet, SEResNeXt,
       ResNet_CIFAR, Res2Net, ResNeSt)
def _resnet(cfg: dict, backbone: ResNet, mask: Mask) -> dict:
    """The class itself where its ``arch_settings`` has a depth with these
    blocks, ``AnyDepthResNet`` otherwise."""
    depths = kept_depths(mask)
    parent = type(backbone)
    name = _registered_name(cfg, parent)
    if name == 'AnyDepthResNet':
        name = cfg.pop('arch', 'ResNet')
    cfg.pop('stage_blocks', None)
    block = parent.arch_settings[backbone.depth][0]
    for depth, (other_block, blocks) in parent.arch_settings.items():
        if other_block is block and tuple(
                blocks[:backbone.num_stages]) == depths:
            return dict(cfg, type=name, depth=depth)
    return dict(cfg, type='AnyDepthResNet', arch=name, depth=backbone.depth,
                stage_blocks=depths)


@_rule(RegNet, AnyDepthRegNet)
def _regnet(cfg: dict, backbone: RegNet, mask: Mask) -> dict:
    return dict(cfg, type='AnyDepthRegNet', stage_blocks=kept_depths(mask))


@_rule(MobileNetV2, AnyDepthMobileNetV2)
def _mobilenet_v2(cfg: dict, backbone: MobileNetV2, mask: Mask) -> dict:
    return dict(cfg, type='AnyDepthMobileNetV2', num_blocks=kept_depths(mask))


@_rule(ConvNeXt)
def _convnext(cfg: dict, backbone: ConvNeXt, mask: Mask) -> dict:
    arch = dict(depths=list(kept_depths(mask)),
                channels=list(backbone.channels))
    return dict(cfg, arch=arch)


@_rule(SwinTransformer)
def _swin(cfg: dict, backbone: SwinTransformer, mask: Mask) -> dict:
    """Fewer ``depths``; every kept block keeps its shifted or regular
    window through ``stage_cfgs[i].block_cfgs[j].shift`` (a stage's blocks
    alternate by position, and removing one would flip the later ones)."""
    arch = dict(embed_dims=backbone.embed_dims,
                depths=list(kept_depths(mask)),
                num_heads=list(backbone.num_heads))
    stage_cfgs = cfg.get('stage_cfgs', dict())
    new_stage_cfgs = []
    for index, stage_mask in enumerate(mask):
        stage_cfg = copy.deepcopy(stage_cfgs[index] if isinstance(
            stage_cfgs, Sequence) else stage_cfgs)
        block_cfgs = stage_cfg.get('block_cfgs', dict())
        stage_cfg['block_cfgs'] = [
            dict(copy.deepcopy(block_cfgs[j] if isinstance(
                block_cfgs, Sequence) else block_cfgs),
                 shift=backbone.stages[index].blocks[j].attn.shift_size > 0)
            for j, keep in enumerate(stage_mask) if keep
        ]
        new_stage_cfgs.append(stage_cfg)
    return dict(cfg, arch=arch, stage_cfgs=new_stage_cfgs)


@_rule(VisionTransformer, DistilledVisionTransformer)
def _vit(cfg: dict, backbone: VisionTransformer, mask: Mask) -> dict:
    """Fewer ``num_layers``; ``out_indices`` and per-layer ``layer_cfgs``
    follow the kept layers."""
    (layer_mask, ) = mask
    kept = [i for i, keep in enumerate(layer_mask) if keep]
    last = len(layer_mask) - 1
    out_indices = []
    for index in backbone.out_indices:
        # the output after layer i is the one after the last kept layer
        # up to i; only the last layer's output has the final norm
        new = max(j for j, old in enumerate(kept) if old <= index)
        if (new == len(kept) - 1) != (index == last):
            raise ValueError(
                f'out_indices={list(backbone.out_indices)}: the output after '
                f'layer {index} cannot be exported when the subnet drops '
                f'every later layer (the final norm would apply to it).')
        out_indices.append(new)
    arch = dict(backbone.arch_settings, num_layers=len(kept))
    cfg.update(arch=arch, out_indices=out_indices)
    if isinstance(cfg.get('layer_cfgs'), Sequence):
        cfg['layer_cfgs'] = [cfg['layer_cfgs'][i] for i in kept]
    return cfg


def _registered_name(cfg: dict, cls: type) -> str:
    """The type name of ``cfg`` without its scope, or the class's name."""
    name = cfg.get('type', cls.__name__)
    return name.split('.')[-1] if isinstance(name, str) else cls.__name__


def subnet_state_dict(state_dict: dict, stages: Sequence[ResidualStage],
                      mask: Mask, prefix: str = 'backbone.') -> OrderedDict:
    """The weights of the kept blocks, renumbered within each stage.

    Args:
        state_dict (dict): The full network's state dict.
        stages (Sequence[ResidualStage]): Its residual stages.
        mask (Mask): Keep-mask per stage.
        prefix (str): Prefix of the backbone's keys. Defaults to
            ``'backbone.'``.

    Returns:
        OrderedDict: The state dict without the dropped blocks, in the
        original order.
    """
    renamed = {}
    for stage, stage_mask in zip(stages, mask):
        kept = [i for i, keep in enumerate(stage_mask) if keep]
        for index in range(len(stage_mask)):
            renamed[f'{prefix}{stage.name}.{index}.'] = (
                f'{prefix}{stage.name}.{kept.index(index)}.'
                if index in kept else None)
    result = OrderedDict()
    for key, value in state_dict.items():
        old = next((p for p in renamed if key.startswith(p)), None)
        if old is None:
            result[key] = value
        elif renamed[old] is not None:
            result[renamed[old] + key[len(old):]] = value
    return result
