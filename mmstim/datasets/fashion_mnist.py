# Copyright (c) mmstim contributors. All rights reserved.
"""Offline preparation of Fashion-MNIST for MMPretrain's ``FashionMNIST``.

The four decompressed idx files are written into one folder (by default
``data/fashion_mnist``) under the names MMPretrain 1.2.0 looks for in
``data_root``, so that the dataset can be built with ``download=False``::

    dict(type='FashionMNIST', data_root='data/fashion_mnist',
         download=False, test_mode=False)

The files come either from the Debian package ``dataset-fashion-mnist``
(gzipped idx files under ``/usr/share/datasets/fashion-mnist``) or from a
folder given by the user, holding the files gzipped or decompressed.

Every file is checked by content: the idx magic number, the number of
items, the image size, the range of the labels and the exact file length.
A file that fails a check raises :class:`DataPreparationError`. The MD5 of
each decompressed file is compared with the published value; a difference
only warns (:class:`MD5MismatchWarning`), as a user's own copy may differ
legitimately.

Files are decompressed into hidden temporary files next to their target
and renamed only after all four passed the checks, so an interrupted run
never leaves a partial file under a name the dataset reads.

A folder that already holds four valid files is left untouched. That check
reads the headers, the file sizes and the labels, but does not hash the
50 MB of images unless ``verify_md5=True`` is given.
"""
import glob
import gzip
import hashlib
import logging
import os
import shutil
import struct
import subprocess
import tempfile
import warnings
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Dict, List, NamedTuple, Optional, Tuple, Union

PathLike = Union[str, 'os.PathLike[str]']

logger = logging.getLogger(__name__)

IMAGES = 'images'
LABELS = 'labels'

#: Magic number at the start of an idx file of unsigned bytes.
IDX_MAGIC = {IMAGES: 2051, LABELS: 2049}
#: Header length in bytes: the magic number and one int32 per dimension.
HEADER_SIZE = {IMAGES: 16, LABELS: 8}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

#: Decompressed file names, as MMPretrain's ``FashionMNIST`` reads them,
#: with the kind of data and the split of each.
FILES: Dict[str, Tuple[str, str]] = {
    'train-images-idx3-ubyte': (IMAGES, 'train'),
    'train-labels-idx1-ubyte': (LABELS, 'train'),
    't10k-images-idx3-ubyte': (IMAGES, 'test'),
    't10k-labels-idx1-ubyte': (LABELS, 'test'),
}
#: Number of items of the published splits.
DEFAULT_COUNTS: Dict[str, int] = {'train': 60000, 'test': 10000}
#: MD5 of the published decompressed files. The gzipped archives are not
#: compared: the Debian package recompresses them.
EXPECTED_MD5: Dict[str, str] = {
    'train-images-idx3-ubyte': 'f4a8712d7a061bf5bd6d2ca38dc4d50a',
    'train-labels-idx1-ubyte': '9018921c3c673c538a1fc5bad174d6f9',
    't10k-images-idx3-ubyte': '8181f5470baa50b63fa0f6fddb340f0a',
    't10k-labels-idx1-ubyte': '15d484375f8d13e6eb1aabb0c3f46965',
}

DEFAULT_OUT_DIR = os.path.join('data', 'fashion_mnist')
DEBIAN_PACKAGE = 'dataset-fashion-mnist'
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
DOWNLOAD_URL = 'https://github.com/zalandoresearch/fashion-mnist'

INSTALL_COMMAND = (f'sudo apt-get update && '
                   f'sudo apt-get install -y {DEBIAN_PACKAGE}')
GENERIC_FIX = (f'Re-install the package (`sudo apt-get install --reinstall '
               f'{DEBIAN_PACKAGE}`), re-download the file from '
               f'{DOWNLOAD_URL}, or pass --source DIR naming a folder with '
               f'an intact copy.')

_GZIP_MAGIC = b'\x1f\x8b'
_CHUNK_SIZE = 1 << 20


class DataPreparationError(ValueError):
    """The data cannot be prepared; the message says why and how to fix it.
    """


class MD5MismatchWarning(UserWarning):
    """A file passed every content check but its MD5 is not the published
    one."""


class IdxFileInfo(NamedTuple):
    """What :func:`verify_idx_file` found in a valid idx file.

    Attributes:
        kind (str): ``'images'`` or ``'labels'``.
        count (int): Number of items.
        size (int): File length in bytes.
        md5 (str, optional): MD5 hex digest, when it was computed.
    """
    kind: str
    count: int
    size: int
    md5: Optional[str] = None


@dataclass
class PreparationResult:
    """Outcome of :func:`prepare_fashion_mnist`.

    Attributes:
        out_dir (str): The folder that holds the four files.
        prepared (bool): True when files were written, False when the
            folder already held valid files and nothing was done.
        source (str, optional): The folder the files were read from, None
            when nothing was written.
        counts (dict): Number of items of each split.
        md5_checked (bool): Whether the MD5 of the files was compared.
        md5_mismatches (list[str]): Names of the files whose MD5 differs
            from the published value.
        reason (str, optional): Why the files were (re)written.
    """
    out_dir: str
    prepared: bool
    source: Optional[str] = None
    counts: Dict[str, int] = field(default_factory=dict)
    md5_checked: bool = False
    md5_mismatches: List[str] = field(default_factory=list)
    reason: Optional[str] = None


def _fail(name: str, problem: str, expected: str, found: str,
          fix: str) -> None:
    """Raise a :class:`DataPreparationError` in the common format."""
    raise DataPreparationError(f'{name}: {problem}: expected {expected}, '
                               f'found {found}. {fix}')


def file_md5(path: PathLike) -> str:
    """Compute the MD5 hex digest of a file.

    Args:
        path (str | PathLike): The file.

    Returns:
        str: The hex digest.
    """
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK_SIZE), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(name: str, found: str, expected: Optional[str]) -> bool:
    """Warn when ``found`` differs from ``expected``.

    Returns:
        bool: True when the digests match or nothing is expected.
    """
    if expected is None or found == expected:
        return True
    warnings.warn(
        f'{name}: MD5 {found} differs from the published value {expected}. '
        'The file passed every content check and is used; if it is not a '
        'copy you changed on purpose, re-install the package or '
        're-download it.',
        MD5MismatchWarning,
        stacklevel=2)
    return False


def _read_header(f: BinaryIO, name: str, kind: str, size: int,
                 fix: str) -> Tuple[int, ...]:
    """Read the header of an idx file and check its magic number.

    Returns:
        tuple[int]: The magic number and the dimensions.
    """
    header_size = HEADER_SIZE[kind]
    header = f.read(header_size)
    if len(header) < header_size:
        _fail(name, f'file too short for the header of an idx {kind} file',
              f'at least {header_size} bytes', f'{size} bytes', fix)
    fields = struct.unpack(f'>{header_size // 4}I', header)
    magic = fields[0]
    if magic != IDX_MAGIC[kind]:
        found = str(magic)
        for other, other_magic in IDX_MAGIC.items():
            if magic == other_magic:
                found += f' (that of a {other} file)'
        if header[:2] == _GZIP_MAGIC:
            found += ' (the file is gzip-compressed)'
        _fail(name, 'wrong idx magic number',
              f'{IDX_MAGIC[kind]} (idx file of {kind})', found, fix)
    return fields


def _check_labels(f: BinaryIO, name: str, fix: str) -> None:
    """Check that every label read from ``f`` is a class index."""
    payload = f.read()
    if not payload or max(payload) < NUM_CLASSES:
        return
    index = next(i for i, v in enumerate(payload) if v >= NUM_CLASSES)
    _fail(name, 'label out of range', f'labels in 0-{NUM_CLASSES - 1}',
          f'label {payload[index]} at index {index}', fix)


def verify_idx_file(path: PathLike,
                    kind: str,
                    expected_count: int,
                    expected_md5: Optional[str] = None,
                    name: Optional[str] = None,
                    fix: str = GENERIC_FIX) -> IdxFileInfo:
    """Check a decompressed Fashion-MNIST idx file by its content.

    The checks are: the magic number (2051 for images, 2049 for labels),
    the number of items, the image size (28x28), the file length (exactly
    header plus payload, so a truncated file is caught) and, for labels,
    that every label is in 0-9.

    Args:
        path (str | PathLike): The decompressed idx file.
        kind (str): ``'images'`` or ``'labels'``.
        expected_count (int): The number of items the file must hold.
        expected_md5 (str, optional): When given, the MD5 of the file is
            computed and compared with it; a difference warns with
            :class:`MD5MismatchWarning`. Defaults to None (not hashed).
        name (str, optional): The name of the file in messages. Defaults
            to ``path``.
        fix (str): How to fix a bad file, appended to error messages.

    Returns:
        IdxFileInfo: The kind, count, size and (when computed) MD5.

    Raises:
        ValueError: If ``kind`` is unknown.
        DataPreparationError: If the file is missing or fails a check.
    """
    if kind not in IDX_MAGIC:
        raise ValueError(f'kind must be one of {sorted(IDX_MAGIC)}, '
                         f'got {kind!r}')
    name = os.fspath(path) if name is None else name
    if not os.path.isfile(path):
        _fail(name, 'file not found', 'a file', 'nothing', fix)
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        fields = _read_header(f, name, kind, size, fix)
        count = fields[1]
        if count != expected_count:
            _fail(name, f'wrong number of {kind}', str(expected_count),
                  str(count), fix)
        item_size = 1
        if kind == IMAGES:
            shape = tuple(fields[2:])
            if shape != IMAGE_SHAPE:
                _fail(name, 'wrong image size', '%dx%d' % IMAGE_SHAPE,
                      '%dx%d' % shape, fix)
            item_size = shape[0] * shape[1]
        expected_size = HEADER_SIZE[kind] + count * item_size
        if size != expected_size:
            problem = ('file truncated' if size < expected_size else
                       'unexpected data after the last item')
            _fail(
                name, problem, f'{expected_size} bytes '
                f'({HEADER_SIZE[kind]}-byte header + {count} x {item_size})',
                f'{size} bytes', fix)
        if kind == LABELS:
            _check_labels(f, name, fix)
    md5 = None
    if expected_md5 is not None:
        md5 = file_md5(path)
        _check_md5(name, md5, expected_md5)
    return IdxFileInfo(kind, count, size, md5)


def _resolve_counts(
        expected_counts: Optional[Dict[str, int]]) -> Dict[str, int]:
    """Merge ``expected_counts`` into :data:`DEFAULT_COUNTS`."""
    counts = dict(DEFAULT_COUNTS)
    for split, count in (expected_counts or {}).items():
        if split not in counts:
            raise ValueError(f'expected_counts has unknown split {split!r}; '
                             f'splits are {sorted(counts)}')
        if int(count) < 0:
            raise ValueError(f'expected_counts[{split!r}] must be >= 0')
        counts[split] = int(count)
    return counts


def _check_prepared(out_dir: str, counts: Dict[str, int],
                    expected_md5: Optional[Dict[str, str]]) -> tuple:
    """Check the files in ``out_dir``.

    Returns:
        tuple[str | None, list[str]]: Why the files are not valid (None
        when they are), and the names whose MD5 differs.
    """
    missing = [
        name for name in FILES
        if not os.path.isfile(os.path.join(out_dir, name))
    ]
    if len(missing) == len(FILES):
        return f'{out_dir} holds no Fashion-MNIST files yet', []
    if missing:
        return f'missing in {out_dir}: {", ".join(missing)}', []
    mismatches = []
    for name, (kind, split) in FILES.items():
        expected = (expected_md5 or {}).get(name)
        try:
            info = verify_idx_file(
                os.path.join(out_dir, name), kind, counts[split], expected)
        except DataPreparationError as error:
            return str(error), []
        if expected is not None and info.md5 != expected:
            mismatches.append(name)
    return None, mismatches


def check_prepared(
        out_dir: PathLike = DEFAULT_OUT_DIR,
        expected_counts: Optional[Dict[str, int]] = None,
        expected_md5: Optional[Dict[str, str]] = None) -> Optional[str]:
    """Tell whether ``out_dir`` already holds four valid files.

    The check reads the headers, the sizes and the labels. The files are
    hashed only when ``expected_md5`` is given; a difference then warns
    with :class:`MD5MismatchWarning` but does not make the files invalid.

    Args:
        out_dir (str | PathLike): The folder to check.
        expected_counts (dict, optional): Number of items per split
            (``'train'``, ``'test'``). Defaults to 60000 and 10000.
        expected_md5 (dict, optional): MD5 per file name to compare with.
            Defaults to None (no hashing).

    Returns:
        str | None: None when the files are valid, otherwise why not.
    """
    reason, _ = _check_prepared(
        os.fspath(out_dir), _resolve_counts(expected_counts), expected_md5)
    return reason


def _is_root() -> bool:
    """Whether the process runs as root (always False without euid)."""
    return hasattr(os, 'geteuid') and os.geteuid() == 0


def _run(command: List[str]) -> int:
    """Run a command with its output on the terminal; return its status."""
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    return subprocess.run(command, env=env, check=False).returncode


def install_debian_package(package: str = DEBIAN_PACKAGE) -> None:
    """Install a Debian package with ``apt-get update`` and ``install``.

    Args:
        package (str): The package. Defaults to ``dataset-fashion-mnist``.

    Raises:
        DataPreparationError: If apt-get is missing or fails.
    """
    apt_get = shutil.which('apt-get')
    if apt_get is None:
        raise DataPreparationError(
            f'Cannot install {package}: apt-get was not found. Pass '
            '--source DIR naming a folder with the Fashion-MNIST idx files '
            f'(from {DOWNLOAD_URL}).')
    for command in ([apt_get, 'update'], [apt_get, 'install', '-y', package]):
        logger.info('running: %s', ' '.join(command))
        status = _run(command)
        if status != 0:
            raise DataPreparationError(
                f'`{" ".join(command)}` failed with exit status {status}. '
                'Check the package sources and the network, or pass '
                '--source DIR naming a folder with the Fashion-MNIST idx '
                f'files (from {DOWNLOAD_URL}).')


def find_source_files(source_dir: PathLike) -> Dict[str, str]:
    """Find the four files in a folder, decompressed or gzipped.

    For each name of :data:`FILES`, the decompressed file is used when
    present, otherwise ``<name>.gz``.

    Args:
        source_dir (str | PathLike): The folder.

    Returns:
        dict[str, str]: The path found for each decompressed file name.

    Raises:
        DataPreparationError: If a file is missing.
    """
    found, missing = {}, []
    for name in FILES:
        for candidate in (name, name + '.gz'):
            path = os.path.join(source_dir, candidate)
            if os.path.isfile(path):
                found[name] = path
                break
        else:
            missing.append(name)
    if missing:
        present = sorted(os.listdir(source_dir))
        if len(present) > 8:
            present = present[:8] + [f'... ({len(present) - 8} more)']
        raise DataPreparationError(
            f'{os.fspath(source_dir)}: missing Fashion-MNIST files: '
            f'expected {", ".join(missing)} (each gzipped as .gz or '
            f'decompressed), found {present}. Put '
            f'the four files from {DOWNLOAD_URL} there, or pass --source '
            'DIR naming another folder.')
    return found


def _missing_package_message() -> str:
    """Say how to get the files when the Debian package is missing."""
    return (f'Fashion-MNIST was not found in {DEBIAN_DIR} (Debian package '
            f'{DEBIAN_PACKAGE}). Install it with `{INSTALL_COMMAND}` and run '
            'again, or pass --source DIR naming a folder that holds '
            f'{", ".join(FILES)} (gzipped as .gz or decompressed).')


def _resolve_source(source: Optional[PathLike],
                    install_package: bool) -> Tuple[str, str]:
    """Choose the folder to read the files from.

    Returns:
        tuple[str, str]: The folder and the fix to suggest for bad files.
    """
    if source is not None:
        source = os.fspath(source)
        if not os.path.isdir(source):
            raise DataPreparationError(
                f'--source {source}: not a folder. Pass --source DIR naming '
                'a folder with the four Fashion-MNIST idx files.')
        fix = (f'Re-download it from {DOWNLOAD_URL} into {source}, or pass '
               '--source DIR naming a folder with an intact copy.')
        return source, fix
    if not os.path.isdir(DEBIAN_DIR) or _has_missing(DEBIAN_DIR):
        if not (install_package and _is_root()):
            raise DataPreparationError(_missing_package_message())
        logger.info('installing the Debian package %s', DEBIAN_PACKAGE)
        install_debian_package(DEBIAN_PACKAGE)
        if _has_missing(DEBIAN_DIR):
            raise DataPreparationError(
                f'{DEBIAN_PACKAGE} was installed but {DEBIAN_DIR} lacks '
                'some files. Pass --source DIR naming a folder with the '
                'four Fashion-MNIST idx files.')
    fix = (f'Re-install the package (`sudo apt-get install --reinstall '
           f'{DEBIAN_PACKAGE}`), or pass --source DIR naming a folder with '
           'an intact copy.')
    return DEBIAN_DIR, fix


def _has_missing(source_dir: str) -> bool:
    """Whether a file of :data:`FILES` is absent from ``source_dir``."""
    try:
        find_source_files(source_dir)
    except (DataPreparationError, OSError):
        return True
    return False


def _open_maybe_gzip(path: str) -> BinaryIO:
    """Open a file for reading, through gzip if it is gzip-compressed."""
    with open(path, 'rb') as f:
        magic = f.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, 'rb')
    return open(path, 'rb')


def _decompress(src: str, dst: BinaryIO, fix: str) -> str:
    """Copy ``src`` decompressed into ``dst``; return the MD5 written.

    Raises:
        DataPreparationError: If ``src`` is a damaged gzip file.
    """
    digest = hashlib.md5()
    try:
        with _open_maybe_gzip(src) as f:
            for chunk in iter(lambda: f.read(_CHUNK_SIZE), b''):
                digest.update(chunk)
                dst.write(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        _fail(src, 'damaged gzip file', 'a complete gzip stream',
              f'{type(error).__name__}: {error}', fix)
    return digest.hexdigest()


def _stage_file(src: str, name: str, out_dir: str, kind: str, count: int,
                fix: str) -> Tuple[str, str]:
    """Decompress ``src`` into a hidden temporary file and verify it.

    Returns:
        tuple[str, str]: The temporary file and its MD5.
    """
    fd, tmp_path = tempfile.mkstemp(
        prefix=f'.{name}.', suffix='.tmp', dir=out_dir)
    try:
        with os.fdopen(fd, 'wb') as dst:
            md5 = _decompress(src, dst, fix)
            dst.flush()
            os.fsync(dst.fileno())
        os.chmod(tmp_path, 0o644)
        verify_idx_file(tmp_path, kind, count, name=src, fix=fix)
    except BaseException:
        _remove_quietly(tmp_path)
        raise
    return tmp_path, md5


def _remove_quietly(path: str) -> None:
    """Remove a file, ignoring that it may be gone already."""
    try:
        os.remove(path)
    except OSError:
        pass


def _remove_stale_tmp_files(out_dir: str) -> None:
    """Remove temporary files left in ``out_dir`` by an interrupted run."""
    for name in FILES:
        for path in glob.glob(os.path.join(out_dir, f'.{name}.*.tmp')):
            _remove_quietly(path)


def _make_out_dir(out_dir: str) -> None:
    """Create ``out_dir``, turning failures into clear errors."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        raise DataPreparationError(
            f'{out_dir}: cannot create the output folder ({error}). Pass '
            '--out DIR naming a writable folder.') from error
    if not os.access(out_dir, os.W_OK):
        raise DataPreparationError(
            f'{out_dir}: the output folder is not writable. Pass --out DIR '
            'naming a writable folder.')


def _write_files(sources: Dict[str, str], out_dir: str, counts: Dict[str, int],
                 expected_md5: Dict[str, str], fix: str) -> List[str]:
    """Stage, verify and rename the four files into ``out_dir``.

    Returns:
        list[str]: Names of the files whose MD5 differs from the expected.
    """
    staged: Dict[str, str] = {}
    mismatches = []
    try:
        for name, (kind, split) in FILES.items():
            tmp_path, md5 = _stage_file(sources[name], name, out_dir, kind,
                                        counts[split], fix)
            staged[name] = tmp_path
            if not _check_md5(sources[name], md5, expected_md5.get(name)):
                mismatches.append(name)
        for name in list(staged):
            os.replace(staged.pop(name), os.path.join(out_dir, name))
    finally:
        for tmp_path in staged.values():
            _remove_quietly(tmp_path)
    return mismatches


def prepare_fashion_mnist(out_dir: PathLike = DEFAULT_OUT_DIR,
                          source: Optional[PathLike] = None,
                          force: bool = False,
                          verify_md5: bool = False,
                          expected_counts: Optional[Dict[str, int]] = None,
                          expected_md5: Optional[Dict[str, str]] = None,
                          install_package: bool = True) -> PreparationResult:
    """Prepare Fashion-MNIST for MMPretrain's ``FashionMNIST`` offline.

    When ``out_dir`` already holds four valid files (see
    :func:`check_prepared`) and ``force`` is False, nothing is written.
    Otherwise the files are read from ``source``, or from the Debian
    package ``dataset-fashion-mnist`` when ``source`` is None; running as
    root, a missing package is installed with apt-get. Each file is
    decompressed, verified and compared with its published MD5 (computed
    while copying) before all four are renamed into place.

    Args:
        out_dir (str | PathLike): The folder to write, used as
            ``data_root`` of ``FashionMNIST``. Defaults to
            ``data/fashion_mnist``.
        source (str | PathLike, optional): A folder holding the four files,
            gzipped (``.gz``) or decompressed. Defaults to None (the
            Debian package).
        force (bool): Write the files even when ``out_dir`` already holds
            valid ones. Defaults to False.
        verify_md5 (bool): Also hash the files already in ``out_dir`` when
            deciding whether they are up to date. Defaults to False.
        expected_counts (dict, optional): Number of items per split
            (``'train'``, ``'test'``). Defaults to 60000 and 10000.
        expected_md5 (dict, optional): MD5 per decompressed file name.
            Defaults to None (the published values); ``{}`` compares none.
        install_package (bool): Install the Debian package with apt-get
            when it is missing and the process runs as root. Defaults to
            True.

    Returns:
        PreparationResult: What was done.

    Raises:
        DataPreparationError: If the files cannot be found, fail a check,
            or cannot be written.
    """
    out_dir = os.fspath(out_dir)
    counts = _resolve_counts(expected_counts)
    md5s = EXPECTED_MD5 if expected_md5 is None else dict(expected_md5)
    reason = 'forced' if force else None
    if not force:
        reason, mismatches = _check_prepared(out_dir, counts,
                                             md5s if verify_md5 else None)
        if reason is None:
            return PreparationResult(out_dir, False, None, counts, verify_md5,
                                     mismatches)
        logger.info('preparing %s: %s', out_dir, reason)
    source_dir, fix = _resolve_source(source, install_package)
    sources = find_source_files(source_dir)
    _make_out_dir(out_dir)
    _remove_stale_tmp_files(out_dir)
    mismatches = _write_files(sources, out_dir, counts, md5s, fix)
    return PreparationResult(out_dir, True, source_dir, counts, bool(md5s),
                             mismatches, reason)
