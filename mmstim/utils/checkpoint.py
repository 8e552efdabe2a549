# Copyright (c) mmstim contributors. All rights reserved.
"""One way to load checkpoints: ``torch.load(..., weights_only=True)``.

MMEngine pickles HistoryBuffers and numpy objects into a checkpoint, which
``weights_only`` loading refuses; allow-listing their pickle globals
(``builtins.getattr`` among them) would let any file call any function. So
they are stored as tensors in dicts marked with :data:`SAFE_MARKER`.
``trust=True`` opts one file into full unpickling.
"""
import os
import os.path as osp
import pickle
import zipfile
from collections import OrderedDict
from typing import Any, Dict, Iterable, Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

SAFE_MARKER = '__mmstim_safe__'
PathLike = Union[str, os.PathLike]


def _tensor(array: Union[np.ndarray, np.generic]) -> Optional[torch.Tensor]:
    """A copy of a numeric numpy array or scalar as a tensor, else None."""
    try:
        return torch.from_numpy(np.array(array, order='C'))
    except (TypeError, ValueError):  # dtypes torch lacks, non-native order
        return None


def to_weights_only_safe(obj: Any) -> Any:
    """Store HistoryBuffers and numeric numpy objects as marked tensors.

    Looks inside dicts, OrderedDicts (keeping attributes such as a state
    dict's ``_metadata``), lists and tuples; other objects, and numpy
    arrays of dtypes torch lacks, are returned as they are. The input is
    not modified.
    """
    if isinstance(obj, HistoryBuffer):
        log, count = (_tensor(array) for array in obj.data)
        return {SAFE_MARKER: 'HistoryBuffer', 'log_history': log,
                'count_history': count, 'max_length': obj.max_length}
    if isinstance(obj, (np.ndarray, np.generic)):
        tensor = _tensor(obj)
        kind = 'ndarray' if isinstance(obj, np.ndarray) else 'scalar'
        return obj if tensor is None else {
            SAFE_MARKER: f'numpy.{kind}', 'tensor': tensor}
    return _map(obj, to_weights_only_safe)


def from_weights_only_safe(obj: Any) -> Any:
    """Rebuild what :func:`to_weights_only_safe` converted, exactly (and
    idempotently)."""
    if type(obj) is dict and SAFE_MARKER in obj:
        kind = obj[SAFE_MARKER]
        if kind == 'HistoryBuffer':
            return HistoryBuffer(obj['log_history'].cpu().numpy(),
                                 obj['count_history'].cpu().numpy(),
                                 obj['max_length'])
        array = obj['tensor'].cpu().numpy()
        return array[()] if kind == 'numpy.scalar' else array
    return _map(obj, from_weights_only_safe)


def _map(obj: Any, convert) -> Any:
    if type(obj) in (dict, OrderedDict):
        result = type(obj)((key, convert(value)) for key, value in obj.items())
        if hasattr(obj, '__dict__'):
            result.__dict__.update(obj.__dict__)
        return result
    if type(obj) in (list, tuple):
        return type(obj)(convert(item) for item in obj)
    return obj


def _what_is_wrong(path: str, error: Exception) -> str:
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head:
        return ('the file is empty (0 bytes): it was not written or copied '
                'completely.')
    is_zip = zipfile.is_zipfile(path)
    if head == b'PK\x03\x04' and not is_zip:
        return ('the file is truncated: it starts as a torch checkpoint (a '
                'zip archive) but its end is missing, so it was not written '
                'or copied completely.')
    if not head.startswith(b'PK') and not head.startswith(b'\x80'):
        return ('the file is not a torch checkpoint (neither a zip archive '
                'nor a pickle, as torch.save writes).')
    unsafe = []
    if is_zip and isinstance(error, pickle.UnpicklingError):  # weights_only
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    if unsafe:
        return (
            f'it holds pickled globals that torch.load(weights_only=True) '
            f'refuses: {", ".join(sorted(unsafe))}. Unpickling them runs '
            f'code named by the file, so a crafted file could run anything. '
            f'Checkpoints saved with SafeCheckpointHook hold none. If you '
            f'trust this file, pass --trust-checkpoint (in Python, '
            f'trust=True), or strip its training state once with '
            f'tools/model_converters/publish_model.py --trust-checkpoint.')
    return f'{type(error).__name__}: {error}'


def load_checkpoint_file(path: PathLike,
                         map_location: Any = 'cpu',
                         trust: bool = False) -> dict:
    """Load a local checkpoint file with ``weights_only=True``.

    Args:
        path (str | os.PathLike): The checkpoint file.
        map_location: As in :func:`torch.load`.
        trust (bool): Unpickle this file without restriction (only for a
            file from a trusted source); the result is then converted by
            :func:`to_weights_only_safe`, so both ways give the same form.

    Returns:
        dict: The checkpoint; :func:`from_weights_only_safe` rebuilds its
        HistoryBuffer and numpy objects.

    Raises:
        FileNotFoundError: The file does not exist.
        RuntimeError: The file cannot be loaded; the message names the file
            and the reason.
    """
    path = osp.expanduser(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint file {path!r} does not exist.')
    try:
        checkpoint = torch.load(
            path, map_location=map_location, weights_only=not trust)
    except Exception as error:
        raise RuntimeError(f'Cannot load checkpoint {path!r}: '
                           f'{_what_is_wrong(path, error)}') from error
    if not isinstance(checkpoint, dict):
        raise RuntimeError(f'Cannot load checkpoint {path!r}: it holds a '
                           f'{type(checkpoint).__name__}, not a dict.')
    return to_weights_only_safe(checkpoint) if trust else checkpoint


def get_state_dict(checkpoint: dict,
                   prefix: Optional[str] = None) -> Dict[str, torch.Tensor]:
    """The weights of a loaded checkpoint, in file order, without a
    ``module.`` prefix.

    Args:
        checkpoint (dict): An MMEngine checkpoint (weights under
            ``'state_dict'``) or a bare state dict.
        prefix (str, optional): Keep only the keys under it (e.g.
            ``'backbone.'``), prefix removed. None or ``''`` keeps all.

    Raises:
        ValueError: There are no weights, or no key starts with ``prefix``.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not state_dict or not all(
            isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise ValueError(
            f'Neither an MMEngine checkpoint (weights under "state_dict") '
            f'nor a bare state dict; its keys: {_some(checkpoint)}.')
    state_dict = OrderedDict(
        (key[7:] if key.startswith('module.') else key, value)
        for key, value in state_dict.items())
    if not prefix:
        return state_dict
    prefix = prefix if prefix.endswith('.') else prefix + '.'
    selected = OrderedDict((key[len(prefix):], value)
                           for key, value in state_dict.items()
                           if key.startswith(prefix))
    if not selected:
        raise ValueError(
            f'No key starts with {prefix!r}; the {len(state_dict)} keys are '
            f'e.g. {_some(state_dict)}. Bare backbone weights (e.g. from '
            f'tools/model_converters/extract_backbone.py) need prefix=None.')
    return selected


def _some(keys: Iterable[str], limit: int = 5) -> str:
    keys = list(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def load_weights(module: nn.Module,
                 path: PathLike,
                 prefix: Optional[str] = None,
                 map_location: Any = 'cpu',
                 trust: bool = False):
    """Load a checkpoint's weights into ``module`` with ``strict=True``.

    ``prefix`` is as in :func:`get_state_dict`, the other arguments as in
    :func:`load_checkpoint_file`, whose errors it raises; also
    ``RuntimeError`` when keys or shapes differ from the module's, and
    ``ValueError`` when there are no weights (under ``prefix``).
    """
    checkpoint = load_checkpoint_file(path, map_location, trust=trust)
    try:
        return module.load_state_dict(
            get_state_dict(checkpoint, prefix), strict=True)
    except (RuntimeError, ValueError) as error:
        raise type(error)(f'Checkpoint {os.fspath(path)!r} (prefix '
                          f'{prefix!r}): {error}') from error


def register_safe_checkpoint_loader(
        trusted_paths: Union[PathLike, Iterable[PathLike]] = ()) -> None:
    """Make MMEngine load local checkpoint files through the safe loader.

    Re-registers MMEngine's loader of local paths (``Runner.resume``,
    ``load_from``) to load with :func:`load_checkpoint_file` and rebuild
    with :func:`from_weights_only_safe`; ``trusted_paths`` load with
    ``trust=True``. Calling it again replaces the trusted paths; it is
    never called on import.
    """
    if isinstance(trusted_paths, (str, os.PathLike)):
        trusted_paths = [trusted_paths]
    trusted = {osp.realpath(osp.expanduser(p)) for p in trusted_paths}

    def load_from_local_safe(filename: str, map_location: Any) -> dict:
        trust = osp.realpath(osp.expanduser(filename)) in trusted
        return from_weights_only_safe(
            load_checkpoint_file(filename, map_location, trust=trust))

    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_safe, force=True)
