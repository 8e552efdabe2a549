# Copyright (c) mmstim contributors. All rights reserved.
import gzip
import hashlib
import importlib.util
import os
import os.path as osp
import struct
import warnings

import numpy as np
import pytest

from mmstim.datasets import (DataPreparationError, MD5MismatchWarning,
                             check_prepared)
from mmstim.datasets import fashion_mnist as fm
from mmstim.datasets import prepare_fashion_mnist, verify_idx_file

COUNTS = {'train': 5, 'test': 3}
NAMES = sorted(fm.FILES)
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLI_PATH = osp.join(REPO_ROOT, 'tools', 'data', 'prepare_fashion_mnist.py')


def idx_images(images: np.ndarray, magic: int = 2051) -> bytes:
    """Encode uint8 images of shape (N, H, W) as an idx3 file."""
    n, h, w = images.shape
    return struct.pack('>4I', magic, n, h, w) + images.tobytes()


def idx_labels(labels: np.ndarray, magic: int = 2049) -> bytes:
    """Encode uint8 labels of shape (N, ) as an idx1 file."""
    return struct.pack('>2I', magic, len(labels)) + labels.tobytes()


def make_arrays(seed: int = 0) -> dict:
    """Random tiny splits: 5 train and 3 test images with labels."""
    rng = np.random.RandomState(seed)
    return {
        split: (rng.randint(0, 256, (n, 28, 28)).astype(np.uint8),
                rng.randint(0, 10, n).astype(np.uint8))
        for split, n in COUNTS.items()
    }


def make_contents(arrays: dict) -> dict:
    """The decompressed bytes of the four files."""
    prefix = {'train': 'train', 'test': 't10k'}
    contents = {}
    for split, (images, labels) in arrays.items():
        contents[f'{prefix[split]}-images-idx3-ubyte'] = idx_images(images)
        contents[f'{prefix[split]}-labels-idx1-ubyte'] = idx_labels(labels)
    return contents


def write_source(folder, contents: dict, gz: bool) -> None:
    """Write the files into ``folder``, gzipped or decompressed."""
    os.makedirs(folder, exist_ok=True)
    for name, data in contents.items():
        if gz:
            with gzip.open(osp.join(folder, name + '.gz'), 'wb') as f:
                f.write(data)
        else:
            with open(osp.join(folder, name), 'wb') as f:
                f.write(data)


def read(path) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def write(path, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)


def prepare(out, source, **kwargs):
    """Prepare tiny files: tiny counts and no published MD5."""
    kwargs.setdefault('expected_counts', COUNTS)
    kwargs.setdefault('expected_md5', {})
    return prepare_fashion_mnist(out, source, **kwargs)


@pytest.fixture
def contents():
    return make_contents(make_arrays())


@pytest.fixture
def source(tmp_path, contents):
    folder = tmp_path / 'source'
    write_source(folder, contents, gz=True)
    return str(folder)


def test_file_names_are_those_mmpretrain_reads():
    from mmpretrain.datasets import FashionMNIST
    from mmpretrain.datasets.utils import rm_suffix
    expected = [
        rm_suffix(name)
        for name, _ in FashionMNIST.train_list + FashionMNIST.test_list
    ]
    assert list(fm.FILES) == expected
    assert [kind for kind, _ in fm.FILES.values()
            ] == ['images', 'labels', 'images', 'labels']
    assert fm.DEFAULT_COUNTS == {'train': 60000, 'test': 10000}
    assert fm.DEFAULT_OUT_DIR == osp.join('data', 'fashion_mnist')


@pytest.mark.parametrize('gz', [True, False])
def test_prepare_writes_decompressed_files(tmp_path, contents, gz):
    src, out = tmp_path / 'src', tmp_path / 'out'
    write_source(src, contents, gz=gz)
    result = prepare(out, src)
    assert result.prepared is True
    assert result.source == str(src)
    assert result.out_dir == str(out)
    assert result.counts == COUNTS
    assert result.md5_mismatches == []
    # exactly the four files, no temporary file left
    assert sorted(os.listdir(out)) == NAMES
    for name, data in contents.items():
        assert read(out / name) == data
    assert check_prepared(out, COUNTS) is None


def test_prepare_detects_gzip_by_content(tmp_path, contents):
    src, out = tmp_path / 'src', tmp_path / 'out'
    os.makedirs(src)
    for name, data in contents.items():
        # gzipped content under the decompressed name
        write(src / name, gzip.compress(data))
    prepare(out, src)
    for name, data in contents.items():
        assert read(out / name) == data


def test_prepare_is_idempotent(tmp_path, source, monkeypatch):
    out = tmp_path / 'out'
    prepare(out, source)
    stats = {name: os.stat(out / name) for name in NAMES}

    def must_not_write(*args, **kwargs):
        raise AssertionError('valid files must not be written again')

    monkeypatch.setattr(fm, '_write_files', must_not_write)
    result = prepare(out, source)
    assert result.prepared is False
    assert result.source is None
    assert result.md5_checked is False
    for name in NAMES:
        now = os.stat(out / name)
        assert (now.st_ino, now.st_mtime_ns) == (stats[name].st_ino,
                                                 stats[name].st_mtime_ns)


def test_prepare_force_and_invalid_target_rewrite(tmp_path, source, contents):
    out = tmp_path / 'out'
    prepare(out, source)
    assert prepare(out, source, force=True).prepared is True
    # a damaged file in the output folder is prepared again
    name = 't10k-images-idx3-ubyte'
    write(out / name, contents[name][:-10])
    result = prepare(out, source)
    assert result.prepared is True
    assert 'truncated' in result.reason
    assert read(out / name) == contents[name]


def test_verify_md5_of_prepared_files(tmp_path, source, contents):
    out = tmp_path / 'out'
    md5 = {
        name: hashlib.md5(data).hexdigest()
        for name, data in contents.items()
    }
    prepare(out, source, expected_md5=md5)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        result = prepare(out, source, expected_md5=md5, verify_md5=True)
    assert result.prepared is False
    assert result.md5_checked is True
    assert result.md5_mismatches == []
    wrong = dict(md5, **{'train-labels-idx1-ubyte': '0' * 32})
    with pytest.warns(MD5MismatchWarning, match='train-labels-idx1-ubyte'):
        result = prepare(out, source, expected_md5=wrong, verify_md5=True)
    assert result.prepared is False
    assert result.md5_mismatches == ['train-labels-idx1-ubyte']


def test_published_md5_mismatch_warns_only(tmp_path, source):
    out = tmp_path / 'out'
    with pytest.warns(MD5MismatchWarning) as record:
        result = prepare(out, source, expected_md5=None)
    assert result.prepared is True
    assert result.md5_checked is True
    assert sorted(result.md5_mismatches) == NAMES
    messages = ' '.join(str(w.message) for w in record)
    for name in NAMES:
        assert name in messages
    assert fm.EXPECTED_MD5['train-images-idx3-ubyte'] in messages
    assert sorted(os.listdir(out)) == NAMES


def test_verify_idx_file_returns_info(tmp_path, contents):
    name = 'train-labels-idx1-ubyte'
    path = tmp_path / name
    write(path, contents[name])
    md5 = hashlib.md5(contents[name]).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        info = verify_idx_file(path, 'labels', 5, expected_md5=md5)
    assert info == fm.IdxFileInfo('labels', 5, 8 + 5, md5)
    info = verify_idx_file(path, 'labels', 5)
    assert info.md5 is None
    with pytest.raises(ValueError, match='kind must be one of'):
        verify_idx_file(path, 'pixels', 5)


def test_truncated_file_is_caught(tmp_path, contents):
    path = tmp_path / 'train-images-idx3-ubyte'
    write(path, contents['train-images-idx3-ubyte'][:-1])
    with pytest.raises(DataPreparationError) as info:
        verify_idx_file(path, 'images', 5)
    message = str(info.value)
    assert message.startswith(str(path) + ': file truncated')
    assert 'expected 3936 bytes' in message  # 16 + 5 * 28 * 28
    assert 'found 3935 bytes' in message
    assert '--source DIR' in message
    # shorter than the header
    write(path, contents['train-images-idx3-ubyte'][:10])
    with pytest.raises(DataPreparationError, match='found 10 bytes'):
        verify_idx_file(path, 'images', 5)


def test_trailing_data_is_caught(tmp_path, contents):
    path = tmp_path / 't10k-labels-idx1-ubyte'
    write(path, contents['t10k-labels-idx1-ubyte'] + b'\0')
    with pytest.raises(DataPreparationError) as info:
        verify_idx_file(path, 'labels', 3)
    assert 'unexpected data after the last item' in str(info.value)
    assert 'expected 11 bytes' in str(info.value)
    assert 'found 12 bytes' in str(info.value)


def test_wrong_magic_number_is_caught(tmp_path):
    arrays = make_arrays()
    path = tmp_path / 'train-images-idx3-ubyte'
    write(path, idx_images(arrays['train'][0], magic=2049))
    with pytest.raises(DataPreparationError) as info:
        verify_idx_file(path, 'images', 5)
    message = str(info.value)
    assert str(path) in message
    assert 'wrong idx magic number' in message
    assert 'expected 2051' in message
    assert 'found 2049 (that of a labels file)' in message
    # a file still gzip-compressed
    write(path, gzip.compress(idx_images(arrays['train'][0])))
    with pytest.raises(DataPreparationError, match='gzip-compressed'):
        verify_idx_file(path, 'images', 5)


def test_wrong_count_is_caught(tmp_path, contents):
    path = tmp_path / 'train-labels-idx1-ubyte'
    write(path, contents['train-labels-idx1-ubyte'])
    with pytest.raises(DataPreparationError) as info:
        verify_idx_file(path, 'labels', 60000)
    message = str(info.value)
    assert str(path) in message
    assert 'wrong number of labels: expected 60000, found 5' in message


def test_wrong_image_size_is_caught(tmp_path):
    path = tmp_path / 'train-images-idx3-ubyte'
    write(path, idx_images(np.zeros((5, 32, 32), np.uint8)))
    with pytest.raises(DataPreparationError) as info:
        verify_idx_file(path, 'images', 5)
    assert 'wrong image size: expected 28x28, found 32x32' in str(info.value)


def test_label_out_of_range_is_caught(tmp_path):
    path = tmp_path / 't10k-labels-idx1-ubyte'
    write(path, idx_labels(np.array([3, 9, 10], np.uint8)))
    with pytest.raises(DataPreparationError) as info:
        verify_idx_file(path, 'labels', 3)
    message = str(info.value)
    assert str(path) in message
    assert 'label out of range: expected labels in 0-9' in message
    assert 'found label 10 at index 2' in message


def test_bad_source_leaves_output_untouched(tmp_path, source, contents):
    out = tmp_path / 'out'
    prepare(out, source)
    before = {name: read(out / name) for name in NAMES}
    bad = tmp_path / 'bad'
    damaged = dict(contents)
    # the last file staged is bad: the three before it must not be renamed
    damaged['t10k-labels-idx1-ubyte'] = idx_labels(
        np.array([0, 1, 12], np.uint8))
    damaged['train-images-idx3-ubyte'] = idx_images(
        make_arrays(seed=1)['train'][0])
    write_source(bad, damaged, gz=True)
    with pytest.raises(DataPreparationError) as info:
        prepare(out, bad, force=True)
    message = str(info.value)
    assert str(bad / 't10k-labels-idx1-ubyte.gz') in message
    assert 'label out of range' in message
    assert 'Re-download it' in message
    assert sorted(os.listdir(out)) == NAMES
    assert {name: read(out / name) for name in NAMES} == before


def test_truncated_gzip_source(tmp_path, contents):
    src, out = tmp_path / 'src', tmp_path / 'out'
    write_source(src, contents, gz=True)
    path = src / 'train-images-idx3-ubyte.gz'
    write(path, read(path)[:-20])
    with pytest.raises(DataPreparationError) as info:
        prepare(out, src)
    assert str(path) in str(info.value)
    assert 'damaged gzip file' in str(info.value)
    assert os.listdir(out) == []


def test_missing_source_files(tmp_path, contents):
    src = tmp_path / 'src'
    write_source(src, contents, gz=False)
    os.remove(src / 't10k-images-idx3-ubyte')
    with pytest.raises(DataPreparationError) as info:
        prepare(tmp_path / 'out', src)
    message = str(info.value)
    assert message.startswith(f'{src}: missing Fashion-MNIST files')
    assert 'expected t10k-images-idx3-ubyte (each' in message
    with pytest.raises(DataPreparationError, match='not a folder'):
        prepare(tmp_path / 'out', tmp_path / 'nowhere')


def test_interrupted_run_leaves_no_file(tmp_path, source, monkeypatch):
    out = tmp_path / 'out'
    decompress = fm._decompress

    def interrupted(src, dst, fix):
        if 't10k-images' in src:
            dst.write(b'\0\0\x08\x03partial')
            raise KeyboardInterrupt
        return decompress(src, dst, fix)

    monkeypatch.setattr(fm, '_decompress', interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(out, source)
    assert os.listdir(out) == []
    # a temporary file left by a killed run is removed by the next run
    write(out / '.train-images-idx3-ubyte.abc123.tmp', b'partial')
    monkeypatch.setattr(fm, '_decompress', decompress)
    prepare(out, source)
    assert sorted(os.listdir(out)) == NAMES


def test_debian_package_is_the_default_source(tmp_path, contents, monkeypatch):
    debian = tmp_path / 'debian'
    write_source(debian, contents, gz=True)
    monkeypatch.setattr(fm, 'DEBIAN_DIR', str(debian))
    result = prepare(tmp_path / 'out', None)
    assert result.source == str(debian)
    for name, data in contents.items():
        assert read(tmp_path / 'out' / name) == data


def test_missing_package_without_root(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, 'DEBIAN_DIR', str(tmp_path / 'absent'))
    monkeypatch.setattr(fm, '_is_root', lambda: False)

    def must_not_run(command):
        raise AssertionError(f'must not run {command}')

    monkeypatch.setattr(fm, '_run', must_not_run)
    with pytest.raises(DataPreparationError) as info:
        prepare(tmp_path / 'out', None)
    message = str(info.value)
    assert str(tmp_path / 'absent') in message
    assert 'sudo apt-get install -y dataset-fashion-mnist' in message
    assert '--source DIR' in message


def test_missing_package_is_installed_as_root(tmp_path, contents, monkeypatch):
    debian = tmp_path / 'debian'
    monkeypatch.setattr(fm, 'DEBIAN_DIR', str(debian))
    monkeypatch.setattr(fm, '_is_root', lambda: True)
    monkeypatch.setattr(fm.shutil, 'which', lambda name: '/usr/bin/' + name)
    commands = []

    def fake_apt(command):
        commands.append(command)
        if command[1] == 'install':
            write_source(debian, contents, gz=True)
        return 0

    monkeypatch.setattr(fm, '_run', fake_apt)
    result = prepare(tmp_path / 'out', None)
    assert commands == [
        ['/usr/bin/apt-get', 'update'],
        ['/usr/bin/apt-get', 'install', '-y', 'dataset-fashion-mnist'],
    ]
    assert result.prepared is True
    assert result.source == str(debian)
    # a failing apt-get is reported with the command
    monkeypatch.setattr(fm, 'DEBIAN_DIR', str(tmp_path / 'absent'))
    monkeypatch.setattr(fm, '_run', lambda command: 100)
    with pytest.raises(DataPreparationError) as info:
        prepare(tmp_path / 'out2', None)
    assert '`/usr/bin/apt-get update` failed with exit status 100' in str(
        info.value)


@pytest.mark.parametrize('gz', [True, False])
def test_mmpretrain_fashion_mnist_reads_prepared_files(tmp_path, gz):
    from mmpretrain.datasets import FashionMNIST
    arrays = make_arrays(seed=3)
    src, out = tmp_path / 'src', tmp_path / 'out'
    write_source(src, make_contents(arrays), gz=gz)
    prepare(out, src)

    train = FashionMNIST(data_root=str(out), test_mode=False, download=False)
    test = FashionMNIST(
        data_root=str(out), split='test', test_mode=True, download=False)
    for dataset, split in ((train, 'train'), (test, 'test')):
        images, labels = arrays[split]
        assert len(dataset) == COUNTS[split]
        for i in range(COUNTS[split]):
            info = dataset.get_data_info(i)
            assert info['img'].shape == (28, 28)
            np.testing.assert_array_equal(info['img'], images[i])
            assert int(info['gt_label']) == int(labels[i])
    assert len(train.metainfo['classes']) == 10


def load_cli():
    spec = importlib.util.spec_from_file_location('prepare_fashion_mnist',
                                                  CLI_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_prepares_then_does_nothing(tmp_path, source, contents,
                                        monkeypatch, capsys):
    cli = load_cli()
    monkeypatch.setattr(fm, 'DEFAULT_COUNTS', COUNTS)
    monkeypatch.setattr(fm, 'EXPECTED_MD5', {
        name: hashlib.md5(data).hexdigest()
        for name, data in contents.items()
    })
    out = str(tmp_path / 'out')
    assert cli.main(['--source', source, '--out', out]) == 0
    printed = capsys.readouterr().out
    assert 'holds no Fashion-MNIST files yet' in printed
    assert f'Prepared Fashion-MNIST (train 5, test 3 images) in {out}' in (
        printed)
    assert 'MD5 of every file matches the published value.' in printed
    assert sorted(os.listdir(out)) == NAMES

    assert cli.main(['--source', source, '--out', out, '--verify-md5']) == 0
    printed = capsys.readouterr().out
    assert 'is already prepared' in printed
    assert 'MD5 of every file matches the published value.' in printed


def test_cli_error_exit_code_and_message(tmp_path, source, capsys):
    cli = load_cli()
    assert cli.DEFAULT_OUT == osp.join(REPO_ROOT, 'data', 'fashion_mnist')
    out = tmp_path / 'out'
    # published counts: the tiny files are rejected
    assert cli.main(['--source', source, '--out', str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith('error: ')
    assert 'train-images-idx3-ubyte.gz: wrong number of images' in (
        captured.err)
    assert 'expected 60000, found 5' in captured.err
    assert 'Traceback' not in captured.err
    assert os.listdir(out) == []
