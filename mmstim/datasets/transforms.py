# Copyright (c) mmstim contributors. All rights reserved.
from typing import Dict

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import Lighting
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ClippedLighting(Lighting):
    """AlexNet-style PCA lighting whose pixels saturate instead of wrapping.

    MMPretrain's ``Lighting`` casts the lit float image back to the input's
    dtype without clipping, so on uint8 images a value past 255 wraps to
    near 0 and one below 0 to near 255. Here the lit image is rounded and
    clipped to the dtype's range before the cast; the arguments and the
    random draw are those of ``Lighting``.

    Examples:
        >>> lighting = ClippedLighting(
        ...     eigval=[55.4625, 4.7940, 1.1475],
        ...     eigvec=[[-0.5836, -0.6948, 0.4203],
        ...             [-0.5808, -0.0045, -0.8140],
        ...             [-0.5675, 0.7192, 0.4009]])
    """

    def transform(self, results: Dict) -> Dict:
        """Light ``results['img']`` (saturating integer pixels)."""
        img = results['img']
        lit = mmcv.adjust_lighting(
            img, self.eigval, self.eigvec, alphastd=self.alphastd,
            to_rgb=self.to_rgb)
        if np.issubdtype(img.dtype, np.integer):
            info = np.iinfo(img.dtype)
            lit = np.clip(np.rint(lit), info.min, info.max)
        results['img'] = lit.astype(img.dtype)
        return results
