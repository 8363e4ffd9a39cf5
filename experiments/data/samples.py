"""The validation images whose predictions are kept to be looked at.

The images are chosen once per dataset root (``choose``: a draw by the profile's
``qualitative_seed`` of its ``qualitative_images`` from the sorted validation file list),
so every row evaluated on that root keeps its prediction of the same images; reports
draw them from where the test stage stored them (``FOLDER``, ``prediction_name``)."""
import os
from typing import List, Tuple

import numpy as np

from experiments.data.datasets import LAYOUTS

PICTURE_SEVERITY = 3  # Cityscapes-C pictures: every corruption at this severity (and the clean image)
FOLDER = 'predictions'


def val_images(dataset: str, root: str) -> List[str]:
    """The validation images of a root, relative to the image folder, sorted."""
    layout = LAYOUTS[dataset]
    base = os.path.join(root, layout.splits['val'][0])
    return sorted(os.path.relpath(os.path.join(d, f), base) for d, _, fs in os.walk(base)
                  for f in fs if f.endswith(layout.img_suffix))


def choose(dataset: str, root: str, n: int, seed: int) -> List[str]:
    """``n`` validation images (relative paths), the same for every call on the same files
    (``n`` and ``seed``: the profile's ``qualitative_images`` and ``qualitative_seed``)."""
    names = val_images(dataset, root)
    if len(names) <= n:
        return names
    picked = np.random.default_rng(seed).choice(len(names), size=n, replace=False)
    return [names[i] for i in sorted(picked)]


def dataset_meta(dataset: str) -> Tuple[tuple, list]:
    """(classes, palette) of mmseg's dataset class: what predictions are drawn with."""
    from mmseg.datasets import ADE20KDataset, CityscapesDataset
    meta = (ADE20KDataset if dataset == 'ade20k' else CityscapesDataset).METAINFO
    return tuple(meta['classes']), list(meta['palette'])


def prediction_name(image: str) -> str:
    """File name of an image's stored prediction: its stem, flattened, as PNG."""
    stem = os.path.splitext(image)[0]
    return stem.replace(os.sep, '__') + '.png'
