# Copyright (c) mmstim contributors. All rights reserved.
"""A COCO-format detection data set composed from Fashion-MNIST images.

Each canvas is a textured grey background with a few Fashion-MNIST items,
each rescaled to a random size and placed at a random position with limited
overlap. An item's box is the tight box of its pixels brighter than
:data:`ITEM_THRESHOLD`, which are the pixels pasted onto the canvas; its
label is its Fashion-MNIST class. Small crops of other items, without a box,
are scattered on the background as clutter, so that "bright pixels are an
object" is not the whole task.

Everything is a pure function of the seed and the split's name: the same
seed writes the same files, byte for byte.
"""
import hashlib
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: Fashion-MNIST's classes, in label order.
CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
           'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
#: Item pixels at or below this grey level are not pasted and not boxed.
ITEM_THRESHOLD = 30
SPLITS = ('train', 'val', 'test')


@dataclass(frozen=True)
class CanvasSpec:
    """What the canvases of a split look like.

    Attributes:
        side (int): Canvas height and width in pixels.
        items (tuple): Fewest and most items per canvas.
        item_sizes (tuple): Smallest and largest side, in pixels, of the
            rescaled 28 x 28 item image.
        max_overlap (float): Largest share of an item's box that another
            item's box may cover.
        clutter (int): Unlabelled crops of other items per canvas.
        background (tuple): Darkest and brightest mean grey level of the
            smooth background texture.
        noise (float): Standard deviation of the pixel noise.
    """
    side: int = 96
    items: Tuple[int, int] = (2, 5)
    item_sizes: Tuple[int, int] = (16, 48)
    max_overlap: float = 0.2
    clutter: int = 3
    background: Tuple[int, int] = (0, 110)
    noise: float = 12.0

    def __post_init__(self):
        low, high = self.item_sizes
        if not 8 <= low <= high <= self.side:
            raise ValueError(f'item_sizes must satisfy 8 <= low <= high <= '
                             f'side ({self.side}), got {self.item_sizes}')
        if not 1 <= self.items[0] <= self.items[1]:
            raise ValueError(f'items must satisfy 1 <= fewest <= most, got '
                             f'{self.items}')
        if not 0 <= self.max_overlap < 1:
            raise ValueError(f'max_overlap must be in [0, 1), got '
                             f'{self.max_overlap}')


@dataclass(frozen=True)
class Placement:
    """One item on a canvas.

    Attributes:
        index (int): The item's index in its Fashion-MNIST split.
        size (int): Side of the rescaled item image.
        x (int): Column of the rescaled image's top-left corner.
        y (int): Row of the rescaled image's top-left corner.
    """
    index: int
    size: int
    x: int
    y: int


def rescaled_item(image: np.ndarray, size: int) -> np.ndarray:
    """A 28 x 28 item image rescaled to ``size`` x ``size`` (bilinear)."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)


def tight_box(patch: np.ndarray, x: int, y: int) -> Optional[List[int]]:
    """``[x0, y0, x1, y1]`` (exclusive end) of a patch's item pixels placed
    at ``(x, y)``; None when no pixel is above :data:`ITEM_THRESHOLD`."""
    rows = np.flatnonzero((patch > ITEM_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((patch > ITEM_THRESHOLD).any(axis=0))
    if not len(rows):
        return None
    return [x + int(cols[0]), y + int(rows[0]), x + int(cols[-1]) + 1,
            y + int(rows[-1]) + 1]


def covered_share(box: Sequence[int], other: Sequence[int]) -> float:
    """The share of ``box``'s area that ``other`` covers."""
    width = min(box[2], other[2]) - max(box[0], other[0])
    height = min(box[3], other[3]) - max(box[1], other[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return max(width, 0) * max(height, 0) / area


def background(rng: np.random.Generator, spec: CanvasSpec) -> np.ndarray:
    """A smooth random grey texture with pixel noise, as float32."""
    low, high = spec.background
    coarse = rng.uniform(low, high, (6, 6)).astype(np.float32)
    texture = cv2.resize(coarse, (spec.side, spec.side),
                         interpolation=cv2.INTER_CUBIC)
    return texture + rng.normal(0, spec.noise, texture.shape).astype(
        np.float32)


def place_items(rng: np.random.Generator, images: np.ndarray,
                pool: Sequence[int], spec: CanvasSpec) -> List[Placement]:
    """Draw the items of one canvas and where they go.

    An item whose box would overlap an earlier one by more than
    ``spec.max_overlap`` (of either box) is tried at another position, 50
    times at most, then left out.

    Args:
        rng (np.random.Generator): The canvas's random numbers.
        images (np.ndarray): The split's images, N x 28 x 28 uint8.
        pool (Sequence[int]): Indices of ``images`` to draw items from.
        spec (CanvasSpec): The canvas settings.

    Returns:
        list[Placement]: The placed items, in pasting order.
    """
    placed, boxes = [], []
    for _ in range(int(rng.integers(spec.items[0], spec.items[1] + 1))):
        index = int(pool[rng.integers(len(pool))])
        size = int(rng.integers(spec.item_sizes[0], spec.item_sizes[1] + 1))
        patch = rescaled_item(images[index], size)
        for _ in range(50):
            x, y = (int(v) for v in rng.integers(0, spec.side - size + 1, 2))
            box = tight_box(patch, x, y)
            if box is None:
                break
            if all(covered_share(box, b) <= spec.max_overlap
                   and covered_share(b, box) <= spec.max_overlap
                   for b in boxes):
                placed.append(Placement(index, size, x, y))
                boxes.append(box)
                break
    return placed


def compose(canvas: np.ndarray, images: np.ndarray,
            placements: Sequence[Placement]) -> List[List[int]]:
    """Paste the items' pixels onto a canvas, in place.

    Returns:
        list[list[int]]: Each item's ``[x0, y0, x1, y1]`` box.
    """
    boxes = []
    for item in placements:
        patch = rescaled_item(images[item.index], item.size)
        window = canvas[item.y:item.y + item.size, item.x:item.x + item.size]
        keep = patch > ITEM_THRESHOLD
        window[keep] = patch[keep]
        boxes.append(tight_box(patch, item.x, item.y))
    return boxes


def add_clutter(rng: np.random.Generator, canvas: np.ndarray,
                images: np.ndarray, pool: Sequence[int], spec: CanvasSpec,
                boxes: Sequence[Sequence[int]]) -> None:
    """Blend small crops of other items onto the background, in place,
    away from the items' boxes."""
    for _ in range(spec.clutter):
        crop = int(rng.integers(6, 11))
        source = images[int(pool[rng.integers(len(pool))])]
        top, left = (int(v) for v in rng.integers(0, 28 - crop + 1, 2))
        piece = source[top:top + crop, left:left + crop].astype(np.float32)
        y, x = (int(v) for v in rng.integers(0, spec.side - crop + 1, 2))
        spot = [x, y, x + crop, y + crop]
        if any(covered_share(spot, box) > 0 for box in boxes):
            continue
        window = canvas[y:y + crop, x:x + crop]
        window[:] = np.maximum(window, 0.8 * piece)


def make_canvas(rng: np.random.Generator, images: np.ndarray,
                pool: Sequence[int],
                spec: CanvasSpec) -> Tuple[np.ndarray, List[Placement],
                                           List[List[int]]]:
    """One canvas: its uint8 image, its placements and their boxes."""
    canvas = background(rng, spec)
    placements = place_items(rng, images, pool, spec)
    item_boxes = [
        tight_box(rescaled_item(images[p.index], p.size), p.x, p.y)
        for p in placements
    ]
    add_clutter(rng, canvas, images, pool, spec, item_boxes)
    canvas = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    boxes = compose(canvas, images, placements)
    return canvas, placements, boxes


def split_rng(seed: int, split: str) -> np.random.Generator:
    """The random numbers of one split, independent of the other splits."""
    return np.random.default_rng([seed, SPLITS.index(split)])


def coco_split(split: str, num_canvases: int, images: np.ndarray,
               labels: np.ndarray, pool: Sequence[int], source: str,
               spec: CanvasSpec, seed: int,
               out_dir: str) -> Dict[str, list]:
    """Write a split's canvases as PNG files and return its COCO dict.

    Args:
        split (str): One of :data:`SPLITS`; images go to ``out_dir/split``.
        num_canvases (int): How many canvases.
        images (np.ndarray): The Fashion-MNIST split's images.
        labels (np.ndarray): Their labels.
        pool (Sequence[int]): The indices items may come from.
        source (str): The Fashion-MNIST split's name, ``train`` or ``test``,
            recorded in each annotation with the item's index.
        spec (CanvasSpec): The canvas settings.
        seed (int): The data set's seed.
        out_dir (str): The data set's folder.

    Returns:
        dict: ``images``, ``annotations`` and ``categories`` in COCO format.
    """
    rng = split_rng(seed, split)
    os.makedirs(osp.join(out_dir, split), exist_ok=True)
    coco = dict(images=[], annotations=[], categories=[
        dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)])
    for image_id in range(1, num_canvases + 1):
        canvas, placements, boxes = make_canvas(rng, images, pool, spec)
        file_name = f'{split}/{image_id:06d}.png'
        cv2.imwrite(osp.join(out_dir, file_name), canvas)
        coco['images'].append(
            dict(id=image_id, file_name=file_name, width=spec.side,
                 height=spec.side))
        for item, (x0, y0, x1, y1) in zip(placements, boxes):
            coco['annotations'].append(
                dict(id=len(coco['annotations']) + 1, image_id=image_id,
                     category_id=int(labels[item.index]) + 1,
                     bbox=[x0, y0, x1 - x0, y1 - y0],
                     area=(x1 - x0) * (y1 - y0), iscrowd=0,
                     source_split=source, source_index=item.index))
    return coco


def files_md5(root: str, file_names: Sequence[str]) -> str:
    """One MD5 over the names and contents of some files, in order."""
    digest = hashlib.md5()
    for name in file_names:
        digest.update(name.encode())
        with open(osp.join(root, name), 'rb') as f:
            digest.update(hashlib.md5(f.read()).digest())
    return digest.hexdigest()


def verify_split(root: str, coco: dict, side: int, source: str,
                 pool: Sequence[int], labels: np.ndarray) -> dict:
    """Check a written split and summarise it.

    Raises:
        ValueError: A file is missing or has the wrong size, a box leaves
            the canvas or is empty, a label is not a Fashion-MNIST class or
            not the source item's, or an item comes from outside ``pool``.

    Returns:
        dict: ``canvases``, ``items``, items per class and the ``md5`` of
        the split's files (:func:`files_md5`).
    """
    allowed = set(int(i) for i in pool)
    for image in coco['images']:
        found = cv2.imread(osp.join(root, image['file_name']),
                           cv2.IMREAD_UNCHANGED)
        if found is None or found.shape != (side, side):
            raise ValueError(f'{image["file_name"]}: expected a {side} x '
                             f'{side} grey image, found '
                             f'{None if found is None else found.shape}')
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        if not (w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= side
                and y + h <= side):
            raise ValueError(f'annotation {ann["id"]}: box {ann["bbox"]} is '
                             f'empty or leaves the {side} x {side} canvas')
        if (ann['source_split'] != source
                or ann['source_index'] not in allowed):
            raise ValueError(
                f'annotation {ann["id"]}: item {ann["source_split"]} '
                f'#{ann["source_index"]} is not from the allowed {source} '
                'images')
        if ann['category_id'] != int(labels[ann['source_index']]) + 1:
            raise ValueError(f'annotation {ann["id"]}: category '
                             f'{ann["category_id"]} is not its item\'s label')
    per_class = np.bincount(
        [a['category_id'] - 1 for a in coco['annotations']],
        minlength=len(CLASSES))
    return dict(
        canvases=len(coco['images']), items=len(coco['annotations']),
        items_per_class=dict(zip(CLASSES, per_class.tolist())),
        md5=files_md5(root, [i['file_name'] for i in coco['images']]))


def write_dataset(out_dir: str, train_images: np.ndarray,
                  train_labels: np.ndarray, test_images: np.ndarray,
                  test_labels: np.ndarray, counts: Dict[str, int],
                  val_items: int, spec: CanvasSpec = CanvasSpec(),
                  seed: int = 0) -> dict:
    """Write the train, val and test canvases with their COCO JSON files.

    Train canvases take items from the first ``len(train) - val_items``
    Fashion-MNIST training images, val canvases from the last
    ``val_items``, test canvases from the test images only.

    Args:
        out_dir (str): The data set's folder; ``annotations/<split>.json``
            and ``<split>/*.png`` are written there.
        train_images, train_labels (np.ndarray): Fashion-MNIST's training
            split.
        test_images, test_labels (np.ndarray): Its test split.
        counts (dict): Canvases per split name.
        val_items (int): Training images kept for the val canvases.
        spec (CanvasSpec): The canvas settings.
        seed (int): The data set's seed.

    Returns:
        dict: The manifest (settings and :func:`verify_split` per split),
        also written to ``annotations/manifest.json``.
    """
    if not 0 < val_items < len(train_images):
        raise ValueError(f'val_items must be in (0, {len(train_images)}), '
                         f'got {val_items}')
    unknown = sorted(set(counts) - set(SPLITS))
    if unknown:
        raise ValueError(f'unknown splits {unknown}; allowed: {SPLITS}')
    first_val = len(train_images) - val_items
    sources = dict(
        train=(train_images, train_labels, range(first_val), 'train'),
        val=(train_images, train_labels, range(first_val, len(train_images)),
             'train'),
        test=(test_images, test_labels, range(len(test_images)), 'test'))
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    manifest = dict(seed=seed, spec=spec.__dict__, classes=CLASSES,
                    splits={})
    for split, num in counts.items():
        images, labels, pool, source = sources[split]
        coco = coco_split(split, num, images, labels, pool, source, spec,
                          seed, out_dir)
        with open(osp.join(out_dir, 'annotations', f'{split}.json'),
                  'w') as f:
            json.dump(coco, f)
        manifest['splits'][split] = dict(
            source=f'Fashion-MNIST {source} images {pool.start}..'
            f'{pool.stop - 1}',
            **verify_split(out_dir, coco, spec.side, source, pool, labels))
    with open(osp.join(out_dir, 'annotations', 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    return manifest
