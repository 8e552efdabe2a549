# Copyright (c) mmstim contributors. All rights reserved.
"""Checkpoint conversion: publishing and backbone extraction.

The functions here back ``tools/model_converters/publish_model.py`` and
``tools/model_converters/extract_backbone.py`` and the ``StrictPretrained``
weight initialiser. Everything they write loads with
``torch.load(..., weights_only=True)``.
"""
import hashlib
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from mmstim.utils.checkpoint import UnsafeCheckpointError, load_checkpoint_file

StateDict = Dict[str, torch.Tensor]

#: ``meta`` entries kept by ``publish_checkpoint``.
PUBLISHED_META_KEYS = ('epoch', 'iter', 'mmengine_version', 'dataset_meta')

#: Torchvision ResNets by (block, blocks per stage).
TORCHVISION_RESNETS = {
    ('BasicBlock', (2, 2, 2, 2)): 'resnet18',
    ('BasicBlock', (3, 4, 6, 3)): 'resnet34',
    ('Bottleneck', (3, 4, 6, 3)): 'resnet50',
    ('Bottleneck', (3, 4, 23, 3)): 'resnet101',
    ('Bottleneck', (3, 8, 36, 3)): 'resnet152',
}
#: The classifier weights that become torchvision's ``fc``.
FC_KEYS = ('head.fc.weight', 'head.fc.bias')
TORCHVISION_ONLY = (
    'Only MMPretrain ResNet (v1.5, style="pytorch", plain 7x7 stem) '
    'classifiers with a GlobalAveragePooling neck and a LinearClsHead have a '
    'torchvision equivalent')


def describe_keys(keys: Sequence[str], limit: int = 5) -> str:
    """Name the first few keys and count the rest.

    Args:
        keys (Sequence[str]): The keys.
        limit (int): How many keys to name. Defaults to 5.

    Returns:
        str: E.g. ``"a, b, c (+4 more)"``.
    """
    keys = list(keys)
    text = ', '.join(keys[:limit])
    if len(keys) > limit:
        text += f' (+{len(keys) - limit} more)'
    return text


def load_checkpoint(path: str,
                    map_location: str = 'cpu',
                    allow_pickle: bool = False) -> Dict[str, Any]:
    """Load a checkpoint file into a dict.

    Args:
        path (str): Path of the file.
        map_location (str): As in :func:`torch.load`. Defaults to ``'cpu'``.
        allow_pickle (bool): Load with ``weights_only=False``, which runs
            arbitrary pickled code: only for files you trust, such as your
            own training checkpoints. Defaults to False.

    Returns:
        dict: The loaded checkpoint.

    Raises:
        FileNotFoundError: The file does not exist.
        RuntimeError: The file holds objects ``weights_only`` refuses.
        TypeError: The file does not hold a dict.
    """
    try:
        checkpoint = load_checkpoint_file(
            path, map_location=map_location, trust=allow_pickle)
    except UnsafeCheckpointError as error:
        raise RuntimeError(
            f'{error} The converters take --allow-pickle for that: '
            f'python tools/model_converters/publish_model.py {path} OUT '
            f'--allow-pickle') from error
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'{path!r} holds a {type(checkpoint).__name__}, not '
                        f'a checkpoint dict.')
    return dict(checkpoint)


def get_state_dict(checkpoint: Mapping[str, Any]) -> StateDict:
    """The model weights of a loaded checkpoint.

    Accepts an MMEngine checkpoint (weights under ``'state_dict'``) or a
    bare state dict. A ``module.`` prefix left by a distributed wrapper is
    removed.

    Args:
        checkpoint (Mapping): A loaded checkpoint.

    Returns:
        OrderedDict[str, Tensor]: The weights, in file order.

    Raises:
        ValueError: There are no weights or some are not tensors.
    """
    if 'state_dict' in checkpoint:
        state_dict = checkpoint['state_dict']
    else:
        state_dict = checkpoint
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise ValueError(
            f'The checkpoint holds no weights; its top-level keys are: '
            f'{describe_keys(list(checkpoint))}.')
    not_tensors = [
        k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)
    ]
    if not_tensors:
        raise ValueError(
            f'The checkpoint is neither an MMEngine checkpoint (weights '
            f'under "state_dict") nor a bare state dict: '
            f'{len(not_tensors)} entries are not tensors: '
            f'{describe_keys(not_tensors)}.')
    return OrderedDict((re.sub(r'^module\.', '', key), value)
                       for key, value in state_dict.items())


def select_prefix(state_dict: Mapping[str, torch.Tensor],
                  prefix: Optional[str]) -> StateDict:
    """The entries under a prefix, with the prefix removed.

    Args:
        state_dict (Mapping[str, Tensor]): The weights.
        prefix (str, optional): E.g. ``'backbone.'`` (a missing final dot is
            added). None or ``''`` selects everything.

    Returns:
        OrderedDict[str, Tensor]: The selected weights.

    Raises:
        ValueError: No key starts with the prefix.
    """
    if not prefix:
        return OrderedDict(state_dict)
    if not prefix.endswith('.'):
        prefix += '.'
    selected = OrderedDict((key[len(prefix):], value)
                           for key, value in state_dict.items()
                           if key.startswith(prefix))
    if not selected:
        raise ValueError(
            f'No key starts with {prefix!r}; the checkpoint has '
            f'{len(state_dict)} keys such as: {describe_keys(state_dict)}. '
            f'A file that holds bare backbone weights (e.g. written by '
            f'tools/model_converters/extract_backbone.py) needs prefix=None.')
    return selected


def compare_state_dicts(
    reference: Mapping[str, torch.Tensor], state_dict: Mapping[str,
                                                               torch.Tensor]
) -> Tuple[List[str], List[str], List[str]]:
    """Compare weights against the ones a model expects.

    Args:
        reference (Mapping[str, Tensor]): What the model expects, e.g. its
            ``state_dict()``; only key names and shapes are read.
        state_dict (Mapping[str, Tensor]): The weights to check.

    Returns:
        tuple[list[str], list[str], list[str]]: The keys missing from
        ``state_dict``, the keys it has in excess, and a description
        ``"key: checkpoint (a, b) vs model (c, d)"`` of each key whose shape
        differs, each in the order of the dict they come from.
    """
    missing = [key for key in reference if key not in state_dict]
    unexpected = [key for key in state_dict if key not in reference]
    wrong_shape = [
        _shape_mismatch(key, value, reference[key])
        for key, value in state_dict.items()
        if key in reference and value.shape != reference[key].shape
    ]
    return missing, unexpected, wrong_shape


def _shape_mismatch(key: str, given: torch.Tensor,
                    expected: torch.Tensor) -> str:
    return (f'{key}: checkpoint {tuple(given.shape)} vs model '
            f'{tuple(expected.shape)}')


def format_mismatch(missing: Sequence[str], unexpected: Sequence[str],
                    wrong_shape: Sequence[str]) -> str:
    """Describe the result of :func:`compare_state_dicts` in lines.

    Args:
        missing (Sequence[str]): Missing keys.
        unexpected (Sequence[str]): Unexpected keys.
        wrong_shape (Sequence[str]): Shape mismatches.

    Returns:
        str: One line per non-empty kind of mismatch.
    """
    kinds = [('missing in the checkpoint', missing),
             ('unexpected in the checkpoint', unexpected),
             ('wrong shape', wrong_shape)]
    lines = []
    for title, keys in kinds:
        if keys:
            lines.append(f'  {title} ({len(keys)}): {describe_keys(keys)}')
    return '\n'.join(lines)


def minimal_meta(meta: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The ``meta`` entries worth publishing.

    Keeps ``epoch``, ``iter``, ``mmengine_version`` and ``dataset_meta``
    where they are plain values (numbers, strings and containers of them)
    and adds ``mmstim_version``. The training config, seed, time and
    experiment name are dropped.

    Args:
        meta (Mapping, optional): The training checkpoint's ``meta``.

    Returns:
        dict: The published ``meta``.
    """
    from mmstim.version import __version__
    meta = meta or {}
    kept = [key for key in PUBLISHED_META_KEYS if key in meta]
    published = {key: meta[key] for key in kept if _is_plain(meta[key])}
    published['mmstim_version'] = __version__
    return published


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and _is_plain(item)
            for key, item in value.items())
    return False


def sha256sum(path: str) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def save_with_hash_name(obj: Any, out_file: str) -> str:
    """Save with :func:`torch.save` as ``<stem>-<sha256[:8]>.pth``.

    Args:
        obj: What to save.
        out_file (str): The wanted path; a ``.pth`` suffix is removed before
            the hash is appended.

    Returns:
        str: The path written.
    """
    stem = out_file[:-4] if out_file.endswith('.pth') else out_file
    os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
    tmp_path = f'{stem}.{os.getpid()}.tmp'
    try:
        torch.save(obj, tmp_path)
        final_path = f'{stem}-{sha256sum(tmp_path)[:8]}.pth'
        os.replace(tmp_path, final_path)
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
    return final_path


def publish_checkpoint(in_file: str,
                       out_file: str,
                       allow_pickle: bool = False) -> str:
    """Publish a training checkpoint.

    Keeps only ``state_dict`` (on the CPU) and a minimal ``meta`` and names
    the file ``<stem>-<first 8 hex digits of its sha256>.pth``.

    Args:
        in_file (str): The training checkpoint.
        out_file (str): The wanted output path, e.g. ``resnet50_stim.pth``.
        allow_pickle (bool): Load ``in_file`` with ``weights_only=False``
            (only for files you trust). Defaults to False.

    Returns:
        str: The path written.
    """
    checkpoint = load_checkpoint(in_file, allow_pickle=allow_pickle)
    published = dict(
        meta=minimal_meta(checkpoint.get('meta')),
        state_dict=_to_cpu(get_state_dict(checkpoint)))
    return save_with_hash_name(published, out_file)


def _to_cpu(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    return OrderedDict(
        (key, value.detach().cpu()) for key, value in state_dict.items())


def torchvision_resnet_state_dict(
        state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """Convert an MMPretrain ResNet classifier to torchvision key names.

    ``backbone.*`` keys lose their prefix (MMPretrain's ``ResNet`` names
    its layers as torchvision does) and ``head.fc.*`` become ``fc.*``. The
    result is checked against the torchvision ResNet of the same depth,
    names and shapes.

    Note:
        ``style='caffe'`` (stride in the first 1x1 convolution) cannot be
        told from the weights; only convert ``ResNet`` with the default
        ``style='pytorch'`` (ResNet v1.5, as torchvision).

    Args:
        state_dict (Mapping[str, Tensor]): An ``ImageClassifier``'s weights
            with ``ResNet``, ``GlobalAveragePooling`` and ``LinearClsHead``.

    Returns:
        OrderedDict[str, Tensor]: Weights for
        ``torchvision.models.resnet<depth>(num_classes=...)``, in its order.

    Raises:
        ValueError: The model has no torchvision equivalent (a deep stem as
            in ``ResNetV1c``/``ResNetV1d``, average-pool downsampling, a
            CIFAR stem, another backbone, neck or head).
    """
    backbone = select_prefix(state_dict, 'backbone.')
    _refuse_resnet_variants(backbone)
    others = [
        key for key in state_dict
        if not key.startswith('backbone.') and key not in FC_KEYS
    ]
    if others:
        raise ValueError(
            f'{TORCHVISION_ONLY}; this checkpoint has weights outside '
            f'backbone.* and head.fc.*: {describe_keys(others)}.')
    if 'head.fc.weight' not in state_dict:
        raise ValueError(
            f'{TORCHVISION_ONLY}; this checkpoint has no head.fc.weight '
            f'(LinearClsHead), so there is no fc layer to export.')

    converted = OrderedDict(backbone)
    converted['fc.weight'] = state_dict['head.fc.weight']
    if 'head.fc.bias' in state_dict:
        converted['fc.bias'] = state_dict['head.fc.bias']
    arch = _torchvision_arch(backbone)
    reference = _torchvision_reference(arch,
                                       state_dict['head.fc.weight'].shape[0])
    mismatch = format_mismatch(*compare_state_dicts(reference, converted))
    if mismatch:
        raise ValueError(
            f'{TORCHVISION_ONLY}; the weights do not match torchvision '
            f'{arch}:\n{mismatch}')
    return OrderedDict((key, converted[key]) for key in reference)


def _refuse_resnet_variants(backbone: Mapping[str, torch.Tensor]) -> None:
    if any(key.startswith('stem.') for key in backbone):
        raise ValueError(
            f'{TORCHVISION_ONLY}. This backbone has a deep stem '
            f'(stem.*: ResNetV1c or ResNetV1d), which has no torchvision '
            f'equivalent.')
    avg_down = [
        key for key in backbone
        if re.match(r'layer\d+\.\d+\.downsample\.2\.', key)
    ]
    if avg_down:
        raise ValueError(
            f'{TORCHVISION_ONLY}. This backbone downsamples with average '
            f'pooling (avg_down, as ResNetV1d: {describe_keys(avg_down, 2)}), '
            f'which has no torchvision equivalent.')


def _torchvision_arch(backbone: Mapping[str, torch.Tensor]) -> str:
    blocks: Dict[int, set] = {}
    for key in backbone:
        match = re.match(r'layer(\d+)\.(\d+)\.', key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks.setdefault(stage, set()).add(block)
    counts = tuple(len(blocks[stage]) for stage in sorted(blocks))
    block_type = ('Bottleneck'
                  if 'layer1.0.conv3.weight' in backbone else 'BasicBlock')
    arch = TORCHVISION_RESNETS.get((block_type, counts))
    if arch is None:
        raise ValueError(
            f'{TORCHVISION_ONLY}; a backbone of {block_type}s with '
            f'{counts} blocks per stage is none of torchvision\'s ResNets '
            f'(18, 34, 50, 101, 152).')
    return arch


def _torchvision_reference(arch: str, num_classes: int) -> StateDict:
    import torchvision
    with torch.device('meta'):
        model = getattr(torchvision.models, arch)(
            weights=None, num_classes=num_classes)
    return model.state_dict()


def extract_backbone(in_file: str,
                     out_file: str,
                     torchvision: bool = False,
                     allow_pickle: bool = False) -> str:
    """Write a classifier checkpoint's backbone for use elsewhere.

    Without ``torchvision`` the file is ``{'meta', 'state_dict'}`` with the
    ``backbone.`` prefix removed, loadable by MMDet's ``ResNet`` (e.g.
    ``init_cfg=dict(type='StrictPretrained', checkpoint=..., prefix=None)``).
    With it the file is a bare state dict in torchvision's ResNet key names,
    ``fc.*`` included, as torchvision's own weight files are.

    Args:
        in_file (str): A classifier checkpoint (training or published).
        out_file (str): The output path.
        torchvision (bool): Write torchvision's ResNet layout. Defaults to
            False.
        allow_pickle (bool): Load ``in_file`` with ``weights_only=False``
            (only for files you trust). Defaults to False.

    Returns:
        str: The path written.
    """
    checkpoint = load_checkpoint(in_file, allow_pickle=allow_pickle)
    state_dict = _to_cpu(get_state_dict(checkpoint))
    if torchvision:
        output: Any = torchvision_resnet_state_dict(state_dict)
    else:
        output = dict(
            meta=minimal_meta(checkpoint.get('meta')),
            state_dict=select_prefix(state_dict, 'backbone.'))
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(output, out_file)
    return out_file
