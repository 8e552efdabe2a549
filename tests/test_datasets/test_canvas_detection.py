# Copyright (c) mmstim contributors. All rights reserved.
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from mmstim.datasets.canvas_detection import (CanvasSpec, Placement, compose,
                                              make_canvas, split_rng,
                                              verify_split, write_dataset)

TRAIN_GREY, TEST_GREY = 250, 60


def item(top: int, left: int, bottom: int, right: int,
         grey: int = 200) -> np.ndarray:
    """A 28 x 28 item image, bright in rows top..bottom-1 and columns
    left..right-1."""
    image = np.zeros((28, 28), np.uint8)
    image[top:bottom, left:right] = grey
    return image


def fake_splits(num_train: int = 40, num_test: int = 20):
    """Training items of grey 250 and test items of grey 60, each a bright
    rectangle covering most of the image; labels cycle through 0-9."""
    train = np.stack([item(2, 3, 26, 25, TRAIN_GREY)] * num_train)
    test = np.stack([item(2, 3, 26, 25, TEST_GREY)] * num_test)
    return (train, np.arange(num_train) % 10, test,
            np.arange(num_test) % 10)


def test_compose_pastes_items_and_boxes_their_pixels():
    images = np.stack([item(5, 8, 15, 20), item(0, 0, 28, 28, 100)])
    canvas = np.zeros((96, 96), np.uint8)
    boxes = compose(canvas, images, [
        Placement(index=0, size=28, x=10, y=20),
        Placement(index=1, size=28, x=60, y=60)
    ])
    # rows 5..14 and columns 8..19 of item 0, shifted by (x, y) = (10, 20)
    assert boxes == [[18, 25, 30, 35], [60, 60, 88, 88]]
    expected = np.zeros((96, 96), np.uint8)
    expected[25:35, 18:30] = 200
    expected[60:88, 60:88] = 100
    np.testing.assert_array_equal(canvas, expected)


def test_written_boxes_and_labels_are_the_placements(tmp_path):
    train, train_labels, test, test_labels = fake_splits()
    spec = CanvasSpec(clutter=0)
    write_dataset(str(tmp_path), train, train_labels, test, test_labels,
                  dict(train=4), val_items=10, spec=spec, seed=3)
    coco = json.load(open(tmp_path / 'annotations' / 'train.json'))
    rng = split_rng(3, 'train')
    for image in coco['images']:
        canvas, placements, boxes = make_canvas(rng, train, range(30), spec)
        anns = [a for a in coco['annotations']
                if a['image_id'] == image['id']]
        assert [a['bbox'] for a in anns] == [
            [x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in boxes]
        assert [a['category_id'] for a in anns] == [
            int(train_labels[p.index]) + 1 for p in placements]
        # each item is a full bright rectangle: its box is rows 2..25 and
        # columns 3..24 of the 28 x 28 image, rescaled
        for a, p in zip(anns, placements):
            x, y, w, h = a['bbox']
            assert p.x <= x and x + w <= p.x + p.size
            assert abs(w - 22 * p.size / 28) <= 3  # bilinear edges
            assert abs(h - 24 * p.size / 28) <= 3
        written = cv2.imread(str(tmp_path / image['file_name']),
                             cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(written, canvas)


def test_splits_take_items_from_their_own_images(tmp_path):
    train, train_labels, test, test_labels = fake_splits()
    manifest = write_dataset(str(tmp_path), train, train_labels, test,
                             test_labels, dict(train=6, val=4, test=6),
                             val_items=10)
    for split, grey, indices in (('train', TRAIN_GREY, range(30)),
                                 ('val', TRAIN_GREY, range(30, 40)),
                                 ('test', TEST_GREY, range(20))):
        coco = json.load(open(tmp_path / 'annotations' / f'{split}.json'))
        assert {a['source_index'] for a in coco['annotations']} <= set(indices)
        pixels = np.stack([
            cv2.imread(str(tmp_path / i['file_name']), cv2.IMREAD_UNCHANGED)
            for i in coco['images']
        ])
        # the items' own grey is on the canvases
        assert (pixels == grey).sum() > 100
        if split == 'test':  # no training item's bright grey anywhere
            assert pixels.max() < 200
        assert manifest['splits'][split]['canvases'] == len(coco['images'])
        assert manifest['splits'][split]['items'] == len(coco['annotations'])


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    data = fake_splits()
    md5 = {}
    for name, seed in (('a', 0), ('b', 0), ('c', 1)):
        manifest = write_dataset(str(tmp_path / name), *data,
                                 dict(train=3, test=3), val_items=10,
                                 seed=seed)
        md5[name] = {s: v['md5'] for s, v in manifest['splits'].items()}
    assert md5['a'] == md5['b']
    assert md5['a']['train'] != md5['c']['train']


def test_verify_split_rejects_a_box_outside_the_canvas(tmp_path):
    train, train_labels, test, test_labels = fake_splits()
    write_dataset(str(tmp_path), train, train_labels, test, test_labels,
                  dict(test=2), val_items=10)
    coco = json.load(open(tmp_path / 'annotations' / 'test.json'))
    coco['annotations'][0]['bbox'] = [90, 10, 10, 10]
    with pytest.raises(ValueError, match='leaves the 96 x 96 canvas'):
        verify_split(str(tmp_path), coco, 96, 'test', range(20), test_labels)
    coco['annotations'][0]['bbox'] = [10, 10, 10, 10]
    coco['annotations'][0]['category_id'] += 1
    with pytest.raises(ValueError, match="not its item's label"):
        verify_split(str(tmp_path), coco, 96, 'test', range(20), test_labels)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match=r'item_sizes .* got \(4, 20\)'):
        CanvasSpec(item_sizes=(4, 20))
    with pytest.raises(ValueError, match=r'val_items must be in \(0, 40\)'):
        write_dataset('unused', *fake_splits(), dict(train=1), val_items=40)


def test_mmdet_coco_dataset_loads_the_canvases(tmp_path):
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    train, train_labels, test, test_labels = fake_splits()
    write_dataset(str(tmp_path), train, train_labels, test, test_labels,
                  dict(val=3), val_items=10)
    coco = json.load(open(tmp_path / 'annotations' / 'val.json'))
    dataset = CocoDataset(
        data_root=str(tmp_path), ann_file='annotations/val.json',
        data_prefix=dict(img=''), metainfo=dict(classes=tuple(
            c['name'] for c in coco['categories'])),
        pipeline=[
            dict(type='LoadImageFromFile', color_type='grayscale'),
            dict(type='LoadAnnotations', with_bbox=True)
        ])
    assert len(dataset) == 3
    sample = dataset[0]
    anns = [a for a in coco['annotations'] if a['image_id'] == 1]
    assert sample['img'].shape == (96, 96)
    np.testing.assert_array_equal(
        np.asarray(sample['gt_bboxes']),
        [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)])
    np.testing.assert_array_equal(sample['gt_bboxes_labels'],
                                  [a['category_id'] - 1 for a in anns])
    assert osp.basename(sample['img_path']) == '000001.png'
