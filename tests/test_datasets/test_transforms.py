# Copyright (c) mmstim contributors. All rights reserved.
import os.path as osp

import numpy as np
from mmengine.config import Config
from mmpretrain.datasets.transforms import Lighting
from mmpretrain.registry import TRANSFORMS

import mmstim  # noqa: F401
from mmstim.datasets import ClippedLighting

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RECIPE = Config.fromfile(
    osp.join(REPO, 'configs', '_base_', 'datasets',
             'imagenet_stpp.py')).lighting


def lit_float(img, transform, seed):
    """The lit image before any cast, with the transform's random draw."""
    np.random.seed(seed)
    alpha = np.random.normal(0, transform.alphastd, 3)
    shift = (transform.eigvec * alpha * transform.eigval).sum(axis=1)
    return img.astype(np.float32) + shift


def test_recipe_uses_the_clipped_lighting():
    assert RECIPE.type == 'ClippedLighting'
    assert isinstance(TRANSFORMS.build(RECIPE), ClippedLighting)


def test_no_pixel_wraps():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    img[:8] = 255  # saturated regions, as in photographs
    img[8:16] = 0
    clipped = TRANSFORMS.build(dict(RECIPE, alphastd=1.0))
    plain = Lighting(**{k: v for k, v in dict(RECIPE, alphastd=1.0).items()
                        if k != 'type'})
    wrapped_somewhere = False
    for seed in range(20):
        expected = lit_float(img, clipped, seed)
        np.random.seed(seed)
        out = clipped.transform(dict(img=img.copy()))['img']
        np.random.seed(seed)
        raw = plain.transform(dict(img=img.copy()))['img']
        assert out.dtype == np.uint8
        assert (out[expected >= 255] == 255).all()
        assert (out[expected <= 0] == 0).all()
        inside = (expected > 0) & (expected < 255)
        assert np.abs(out[inside] - expected[inside]).max() <= 0.5
        # MMPretrain's Lighting wraps where this one saturates
        wrapped_somewhere |= bool((raw[expected >= 256] < 128).any())
    assert wrapped_somewhere
