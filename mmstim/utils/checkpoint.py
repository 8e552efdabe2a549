# Copyright (c) mmstim contributors. All rights reserved.
"""Checkpoints that load with ``torch.load(..., weights_only=True)``.

MMEngine pickles :class:`~mmengine.logging.HistoryBuffer` objects and numpy
objects into a checkpoint's ``message_hub`` and ``meta``. Since torch 2.6,
``torch.load`` refuses them by default, and allowing their pickle globals
(``builtins.getattr`` among them) would let any file call any function. The
functions here convert those objects into plain containers, numbers, bytes
and tensors that the restricted unpickler accepts, rebuild them exactly,
and load local files safely from MMEngine.

The plain form marks every converted object with a dict holding the
reserved key :data:`SAFE_MARKER`; a dict that already holds that key is
escaped, so :func:`from_weights_only_safe` undoes
:func:`to_weights_only_safe` exactly.
"""
import os
import os.path as osp
import pickle
from collections import Counter, OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

SAFE_MARKER = '__mmstim_safe__'

MapLocation = Optional[Union[str, torch.device, Callable, dict]]
PathLike = Union[str, os.PathLike]

# Containers that the restricted unpickler rebuilds without custom globals.
_DICT_TYPES = (dict, OrderedDict, Counter)
_SEQUENCE_TYPES = (list, tuple)
# Leaves that the restricted unpickler accepts.
_SAFE_LEAF_TYPES = (type(None), bool, int, float, complex, str, bytes,
                    bytearray, torch.dtype, torch.device, torch.Size,
                    torch.Tensor, torch.nn.Parameter)
_PYTHON_NUMBERS = (bool, int, float, complex)

# Paths that the loader registered by ``register_safe_checkpoint_loader``
# loads with ``trust=True``.
_TRUSTED_PATHS: Set[str] = set()


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint file holds objects that ``weights_only`` loading refuses.

    Args:
        path (str): The checkpoint file.
        unsafe_globals (list[str]): The pickle globals that are not allowed,
            as ``module.name``; empty when they could not be listed.
        detail (str, optional): The error of the restricted unpickler.
            Defaults to None.
    """

    def __init__(self,
                 path: str,
                 unsafe_globals: List[str],
                 detail: Optional[str] = None):
        self.path = path
        self.unsafe_globals = list(unsafe_globals)
        self.detail = detail
        super().__init__(self._message())

    def __reduce__(self):
        return type(self), (self.path, self.unsafe_globals, self.detail)

    def _message(self) -> str:
        if self.unsafe_globals:
            found = ('it holds pickled globals that weights_only loading '
                     'does not allow: ' + ', '.join(self.unsafe_globals))
        else:
            found = 'weights_only loading refused it'
        text = (
            f'Refusing to load checkpoint {self.path!r}: {found}. Loading '
            f'them would import and call that code, so a crafted file '
            f'could run anything on this machine. Checkpoints saved with '
            f"custom_hooks=[dict(type='SafeCheckpointHook')] hold none. If "
            f'you trust this file, load it with '
            f'load_checkpoint_file(path, trust=True), or pass '
            f'--trust-checkpoint to the training or testing tool.')
        if self.detail:
            text += f' Unpickler error: {self.detail}'
        return text


def _marked(kind: str, **fields) -> dict:
    fields[SAFE_MARKER] = kind
    return fields


def _encode_array(array: np.ndarray) -> Any:
    """Encode a numpy array; arrays of structured objects stay as they are."""
    dtype = array.dtype
    if dtype.hasobject and dtype.kind != 'O':
        return array
    encoded = _marked(
        'numpy.ndarray',
        descr=np.lib.format.dtype_to_descr(dtype),
        shape=list(array.shape))
    if dtype.kind == 'O':
        encoded['items'] = [to_weights_only_safe(v) for v in array.flat]
        return encoded
    if dtype.isnative and dtype.kind in 'biufc':
        try:
            encoded['tensor'] = torch.from_numpy(array.copy(order='C'))
            return encoded
        except TypeError:
            pass  # a dtype that torch does not hold: keep the raw bytes
    encoded['bytes'] = array.tobytes(order='C')
    return encoded


def _decode_array(encoded: dict) -> np.ndarray:
    dtype = np.lib.format.descr_to_dtype(encoded['descr'])
    shape = tuple(encoded['shape'])
    if 'items' in encoded:
        items = encoded['items']
        array = np.empty(len(items), dtype=dtype)
        for index, item in enumerate(items):
            array[index] = from_weights_only_safe(item)
        return array.reshape(shape)
    if 'tensor' in encoded:
        array = encoded['tensor'].detach().cpu().numpy()
        return array.astype(dtype, copy=True).reshape(shape)
    return np.frombuffer(encoded['bytes'], dtype=dtype).reshape(shape).copy()


def _encode_numpy_scalar(scalar: np.generic) -> dict:
    descr = np.lib.format.dtype_to_descr(scalar.dtype)
    value = scalar.item()
    if type(value) in _PYTHON_NUMBERS:
        return _marked('numpy.scalar', descr=descr, value=value)
    return _marked(
        'numpy.scalar', descr=descr, array=_encode_array(np.array(scalar)))


def _decode_numpy_scalar(encoded: dict) -> np.generic:
    if 'array' in encoded:
        return _decode_array(encoded['array'])[()]
    dtype = np.lib.format.descr_to_dtype(encoded['descr'])
    return dtype.type(encoded['value'])


def _encode_numpy_dtype(dtype: np.dtype) -> dict:
    return _marked('numpy.dtype', descr=np.lib.format.dtype_to_descr(dtype))


def _decode_numpy_dtype(encoded: dict) -> np.dtype:
    return np.lib.format.descr_to_dtype(encoded['descr'])


def _encode_history_buffer(buffer: HistoryBuffer) -> dict:
    log_history, count_history = buffer.data
    return _marked(
        'HistoryBuffer',
        log_history=_encode_array(log_history),
        count_history=_encode_array(count_history),
        max_length=buffer.max_length)


def _decode_history_buffer(encoded: dict) -> HistoryBuffer:
    return HistoryBuffer(
        log_history=_decode_array(encoded['log_history']),
        count_history=_decode_array(encoded['count_history']),
        max_length=encoded['max_length'])


def _encode_dict(mapping: dict) -> dict:
    if type(mapping) is dict and SAFE_MARKER in mapping:
        # Escape a dict that would read as a marked object.
        return _marked(
            'dict',
            items=[[key, to_weights_only_safe(value)]
                   for key, value in mapping.items()])
    encoded = type(mapping)()
    for key, value in mapping.items():
        encoded[key] = to_weights_only_safe(value)
    _copy_attributes(mapping, encoded, to_weights_only_safe)
    return encoded


def _copy_attributes(source: dict, target: dict,
                     convert: Callable[[Any], Any]) -> None:
    """Copy the attributes of an ``OrderedDict``, e.g. ``_metadata``."""
    # A state dict keeps the module versions there; the unpickler restores
    # the attributes of an OrderedDict.
    for name, value in getattr(source, '__dict__', {}).items():
        setattr(target, name, convert(value))


def _decode_escaped_dict(encoded: dict) -> dict:
    return {key: from_weights_only_safe(value) for key, value in
            encoded['items']}


_DECODERS: Dict[str, Callable[[dict], Any]] = {
    'HistoryBuffer': _decode_history_buffer,
    'numpy.ndarray': _decode_array,
    'numpy.scalar': _decode_numpy_scalar,
    'numpy.dtype': _decode_numpy_dtype,
    'dict': _decode_escaped_dict,
}


def to_weights_only_safe(obj: Any) -> Any:
    """Convert an object into a form that ``weights_only`` loading accepts.

    :class:`HistoryBuffer` objects, numpy arrays, numpy scalars and numpy
    dtypes become marked dicts of Python numbers, strings, bytes and
    tensors, anywhere inside dicts (``dict``, ``OrderedDict``,
    ``Counter``), lists and tuples. Other objects are returned as they are;
    :func:`find_unsafe_objects` lists those that remain unsafe. The input is
    not modified and tensors are not copied.

    Args:
        obj (Any): The object, e.g. a whole checkpoint dict.

    Returns:
        Any: The converted object.
    """
    if type(obj) is HistoryBuffer:
        return _encode_history_buffer(obj)
    if type(obj) is np.ndarray:
        return _encode_array(obj)
    if isinstance(obj, np.generic):
        return _encode_numpy_scalar(obj)
    if isinstance(obj, np.dtype):
        return _encode_numpy_dtype(obj)
    if type(obj) in _DICT_TYPES:
        return _encode_dict(obj)
    if type(obj) in _SEQUENCE_TYPES:
        return type(obj)(to_weights_only_safe(item) for item in obj)
    return obj


def from_weights_only_safe(obj: Any) -> Any:
    """Rebuild the objects converted by :func:`to_weights_only_safe`.

    Objects that are not in the converted form (tensors, numbers, or
    objects already rebuilt) are returned as they are, so rebuilding a
    rebuilt object changes nothing, unless it holds dicts with the reserved
    key :data:`SAFE_MARKER`.

    Args:
        obj (Any): The converted object, e.g. a loaded checkpoint dict.

    Returns:
        Any: The object with ``HistoryBuffer`` and numpy objects rebuilt.

    Raises:
        ValueError: A marked dict names an unknown kind of object.
    """
    if type(obj) is dict and SAFE_MARKER in obj:
        kind = obj[SAFE_MARKER]
        if kind not in _DECODERS:
            raise ValueError(f'Unknown converted object {kind!r}; known: '
                             f'{sorted(_DECODERS)}.')
        return _DECODERS[kind](obj)
    if type(obj) in _DICT_TYPES:
        decoded = type(obj)()
        for key, value in obj.items():
            decoded[key] = from_weights_only_safe(value)
        _copy_attributes(obj, decoded, from_weights_only_safe)
        return decoded
    if type(obj) in _SEQUENCE_TYPES:
        return type(obj)(from_weights_only_safe(item) for item in obj)
    return obj


def find_unsafe_objects(obj: Any, name: str = 'checkpoint') -> List[str]:
    """List the objects that ``weights_only`` loading would refuse.

    The check is by type: plain containers (``dict``, ``OrderedDict``,
    ``Counter``, ``list``, ``tuple``, ``set``), Python numbers, strings,
    bytes, ``None``, tensors, ``torch.Size``, ``torch.dtype`` and
    ``torch.device`` are accepted; anything else is reported.

    Args:
        obj (Any): The object to check.
        name (str): The name of ``obj`` in the report.
            Defaults to ``'checkpoint'``.

    Returns:
        list[str]: One ``'<where>: <type>'`` entry per refused object.
    """
    found: List[str] = []
    _collect_unsafe(obj, name, found)
    return found


def _collect_unsafe(obj: Any, where: str, found: List[str]) -> None:
    if type(obj) in _DICT_TYPES:
        for key, value in obj.items():
            _collect_unsafe(key, f'{where} key {key!r}', found)
            _collect_unsafe(value, f'{where}[{key!r}]', found)
    elif type(obj) in _SEQUENCE_TYPES or type(obj) is set:
        for index, item in enumerate(obj):
            _collect_unsafe(item, f'{where}[{index}]', found)
    elif type(obj) not in _SAFE_LEAF_TYPES:
        kind = type(obj)
        found.append(f'{where}: {kind.__module__}.{kind.__qualname__}')


def _unsafe_globals(filename: str) -> List[str]:
    get_unsafe = getattr(torch.serialization,
                         'get_unsafe_globals_in_checkpoint', None)
    if get_unsafe is None:
        return []  # torch < 2.5: the unpickler's error tells more
    try:
        unsafe = get_unsafe(filename)
    except (ValueError, RuntimeError):
        return []  # not a zip checkpoint: the unpickler's error tells more
    return sorted(unsafe)


def load_checkpoint_file(path: PathLike,
                         map_location: MapLocation = 'cpu',
                         trust: bool = False) -> Any:
    """Load a local checkpoint file with ``weights_only=True``.

    A file that holds pickle globals outside torch's allow-list (and those
    added with ``torch.serialization.add_safe_globals``) is refused before
    anything in it is unpickled. A file the user trusts can be loaded with
    ``trust=True``: it is then fully unpickled and converted by
    :func:`to_weights_only_safe`, so both ways return the same form.

    Args:
        path (str | os.PathLike): The checkpoint file.
        map_location (str | torch.device | Callable | dict, optional): Same
            as :func:`torch.load`. Defaults to ``'cpu'``.
        trust (bool): Unpickle the file without restriction. Only for a
            file from a trusted source. Defaults to False.

    Returns:
        Any: The checkpoint in the converted form; use
        :func:`from_weights_only_safe` to rebuild its objects.

    Raises:
        FileNotFoundError: The file does not exist.
        UnsafeCheckpointError: The file holds objects that ``weights_only``
            loading refuses and ``trust`` is False.
    """
    filename = osp.expanduser(os.fspath(path))
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'Checkpoint file {filename!r} does not exist.')
    if trust:
        checkpoint = torch.load(
            filename, map_location=map_location, weights_only=False)
        return to_weights_only_safe(checkpoint)
    unsafe = _unsafe_globals(filename)
    if unsafe:
        raise UnsafeCheckpointError(filename, unsafe)
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(filename, unsafe, str(error)) from error


def _normalize_path(path: PathLike) -> str:
    return osp.realpath(osp.expanduser(os.fspath(path)))


def load_from_local_safe(filename: str, map_location: MapLocation) -> Any:
    """MMEngine loader of local files that refuses unsafe checkpoints.

    Registered for local paths by :func:`register_safe_checkpoint_loader`.
    It returns the checkpoint with its ``HistoryBuffer`` and numpy objects
    rebuilt, as MMEngine's own loader would, so resuming works with or
    without :class:`SafeCheckpointHook`.

    Args:
        filename (str): The checkpoint file.
        map_location (str | torch.device | Callable | dict, optional): Same
            as :func:`torch.load`.

    Returns:
        Any: The loaded checkpoint.
    """
    trust = _normalize_path(filename) in _TRUSTED_PATHS
    checkpoint = load_checkpoint_file(filename, map_location, trust=trust)
    return from_weights_only_safe(checkpoint)


def register_safe_checkpoint_loader(
        trusted_paths: Union[PathLike, Iterable[PathLike]] = ()) -> None:
    """Make MMEngine load every local checkpoint file safely.

    Re-registers MMEngine's loader of local paths (``Runner.resume``,
    ``load_from``, ``init_cfg=dict(type='Pretrained')``) with
    :func:`load_from_local_safe`, which loads through
    :func:`load_checkpoint_file`. Calling it again replaces the trusted
    paths; it is never called on import.

    Args:
        trusted_paths (str | os.PathLike | Iterable): Files to load with
            ``trust=True``. Defaults to ().
    """
    if isinstance(trusted_paths, (str, os.PathLike)):
        trusted_paths = (trusted_paths, )
    _TRUSTED_PATHS.clear()
    _TRUSTED_PATHS.update(_normalize_path(path) for path in trusted_paths)
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_safe, force=True)
