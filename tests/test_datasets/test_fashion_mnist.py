# Copyright (c) mmstim contributors. All rights reserved.
"""tools/dataset_converters/prepare_fashion_mnist.py on tiny idx files."""
import gzip
import hashlib
import os
import os.path as osp
import struct

import numpy as np
import pytest
from helpers import load_tool
from mmpretrain.datasets import FashionMNIST

COUNTS = {'train': 6, 'test': 4}
NAMES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
         't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']
GZIPPED = NAMES[:2]  # the train files are gzipped, the test files are not
rng = np.random.default_rng(0)
IMAGES = {s: rng.integers(0, 256, (n, 28, 28)) for s, n in COUNTS.items()}
LABELS = {s: (np.arange(n) * 3 + 1) % 10 for s, n in COUNTS.items()}


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/dataset_converters/prepare_fashion_mnist.py')


@pytest.fixture
def source(tmp_path):
    """The four files in ``tmp_path/src``: train gzipped, test plain."""
    folder = tmp_path / 'src'
    folder.mkdir()
    for split, prefix in (('train', 'train'), ('test', 't10k')):
        for kind, array, magic in (('images-idx3', IMAGES[split], 2051),
                                   ('labels-idx1', LABELS[split], 2049)):
            header = struct.pack(f'>{array.ndim + 1}I', magic, *array.shape)
            replace(folder, f'{prefix}-{kind}-ubyte',
                    header + array.astype(np.uint8).tobytes())
    return folder


def replace(folder, name, data: bytes) -> None:
    """Write ``data`` as ``name`` into ``folder``, gzipped if it was."""
    if name in GZIPPED:
        (folder / (name + '.gz')).write_bytes(gzip.compress(data))
    else:
        (folder / name).write_bytes(data)


def decompressed(folder, name) -> bytes:
    path = folder / (name + '.gz' if name in GZIPPED else name)
    return gzip.decompress(path.read_bytes()) if name in GZIPPED else (
        path.read_bytes())


def md5(folder, name) -> str:
    return hashlib.md5(decompressed(folder, name)).hexdigest()


def run(tool, source, out, *extra) -> int:
    return tool.main([
        '--source', str(source), '--out', str(out), '--train-count',
        str(COUNTS['train']), '--test-count', str(COUNTS['test']), *extra
    ])


def test_writes_what_mmpretrain_reads(tool, source, tmp_path, capsys):
    out = tmp_path / 'out'
    assert run(tool, source, out) == 0
    assert sorted(os.listdir(out)) == sorted(NAMES)
    assert sorted(os.listdir(tmp_path)) == ['out', 'src']  # no temp left
    for name in NAMES:
        assert (out / name).read_bytes() == decompressed(source, name)
    for split, test_mode in (('train', False), ('test', True)):
        dataset = FashionMNIST(
            data_root=str(out), split=split, download=False,
            test_mode=test_mode)
        infos = [dataset.get_data_info(i) for i in range(len(dataset))]
        assert [int(i['gt_label']) for i in infos] == LABELS[split].tolist()
        np.testing.assert_array_equal([i['img'] for i in infos],
                                      IMAGES[split])
    err = capsys.readouterr().err  # tiny files: every MD5 differs
    assert err.count('warning:') == 4
    assert 'train-images-idx3-ubyte.gz: expected the published MD5 ' \
        'f4a8712d7a061bf5bd6d2ca38dc4d50a, found ' + md5(source, NAMES[0]) \
        in err


def test_matching_md5_does_not_warn(tool, source, tmp_path, capsys,
                                    monkeypatch):
    for name, (split, _) in list(tool.FILES.items()):
        monkeypatch.setitem(tool.FILES, name, (split, md5(source, name)))
    assert run(tool, source, tmp_path / 'out') == 0
    assert capsys.readouterr().err == ''


@pytest.mark.parametrize('name, damage, message', [
    ('train-images-idx3-ubyte', lambda data: data[:-5], 'expected 4720 bytes '
     '(header + 6x28x28), found 4715 bytes'),
    ('t10k-images-idx3-ubyte', lambda data: data[:-5], 'found 3147 bytes'),
    ('t10k-labels-idx1-ubyte', lambda data: struct.pack('>I', 2051) + data[4:],
     'expected an idx file with magic number 2049, found 2051'),
    ('train-labels-idx1-ubyte', lambda data: data[:-2] + b'\x0a' + data[-1:],
     'expected labels in 0..9, found 10 at index 4'),
], ids=['truncated-gz', 'truncated', 'magic', 'label-10'])
def test_bad_file_is_an_error_and_writes_nothing(tool, source, tmp_path,
                                                 capsys, name, damage,
                                                 message):
    replace(source, name, damage(decompressed(source, name)))
    out = tmp_path / 'out'
    assert run(tool, source, out) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith('error: ') and name in err and message in err
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ['src']


def test_cut_gzip_stream_is_an_error(tool, source, tmp_path, capsys):
    path = source / 'train-labels-idx1-ubyte.gz'
    path.write_bytes(path.read_bytes()[:-10])
    assert run(tool, source, tmp_path / 'out') == 2
    assert f'error: {path}: expected a readable idx or gzip file, found ' \
        'EOFError' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_second_run_leaves_files_and_force_rewrites(tool, source, tmp_path,
                                                    capsys):
    out = tmp_path / 'out'
    assert run(tool, source, out) == 0
    for name in NAMES:
        os.utime(out / name, ns=(10**18, 10**18))
    assert run(tool, source, out) == 0
    assert 'already prepared' in capsys.readouterr().out
    assert all(os.stat(out / n).st_mtime_ns == 10**18 for n in NAMES)
    assert run(tool, source, out, '--force') == 0
    assert all(os.stat(out / n).st_mtime_ns != 10**18 for n in NAMES)
    (out / NAMES[3]).write_bytes(b'')  # a damaged file is rewritten
    assert run(tool, source, out) == 0
    assert f'rewriting {out}' in capsys.readouterr().out
    assert (out / NAMES[3]).read_bytes() == decompressed(source, NAMES[3])


def test_missing_source_names_make_data(tool, source, tmp_path, capsys):
    assert run(tool, tmp_path / 'absent', tmp_path / 'out') == 2
    assert 'absent: no such folder; run `make data`' in capsys.readouterr(
    ).err
    (source / 't10k-images-idx3-ubyte').unlink()
    assert run(tool, source, tmp_path / 'out') == 2
    err = capsys.readouterr().err
    assert 'expected t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz, ' \
        'found neither; run `make data`' in err
    assert not (tmp_path / 'out').exists()
    args = tool.parse_args([])
    assert args.source == '/usr/share/datasets/fashion-mnist'
    assert args.out.endswith(osp.join('data', 'fashion_mnist'))
    assert (args.train_count, args.test_count) == (60000, 10000)
