# Copyright (c) mmstim contributors. All rights reserved.
from typing import Dict

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import Lighting
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ClippedLighting(Lighting):
    """AlexNet-style PCA lighting whose pixels saturate instead of wrapping.

    MMPretrain's ``Lighting`` casts the lit image back to the input's dtype
    without clipping, so uint8 values past 255 wrap to near 0 (and below 0
    to near 255). Here the lit image is rounded and clipped to the dtype's
    range first; the arguments and the random draw are ``Lighting``'s.
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
