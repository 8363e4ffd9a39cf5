"""The validation images whose predictions are kept to be looked at.

The images are chosen once per dataset root (``choose``: a draw by the profile's
``qualitative_seed`` of its ``qualitative_images`` from the sorted validation file list),
so every row evaluated on that root keeps its prediction of the same images; reports
draw them from where the test stage stored them (``FOLDER``, ``prediction_name``)."""
import ast
import importlib.util
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


# mmseg's dataset classes whose METAINFO states each dataset's classes and palette
_META_SOURCES = {'ade20k': ('ade.py', 'ADE20KDataset'), 'cityscapes': ('cityscapes.py', 'CityscapesDataset')}


def dataset_meta(dataset: str) -> Tuple[tuple, list]:
    """(classes, palette) of mmseg's dataset class: what predictions are drawn with. Read from
    the class's source as data (its literal ``METAINFO``): importing ``mmseg.datasets`` loads
    torch, which a report on a login node does without."""
    module, name = _META_SOURCES[dataset]
    spec = importlib.util.find_spec('mmseg')  # finds the package without running it
    path = os.path.join(os.path.dirname(spec.origin), 'datasets', module)
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    meta = next(n.value for n in cls.body if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', '') == 'METAINFO')
    values = {k.arg: ast.literal_eval(k.value) for k in meta.keywords}
    return tuple(values['classes']), [list(c) for c in values['palette']]


def overlay(image_rgb: np.ndarray, class_map: np.ndarray, palette: List[list], alpha: float = 0.5) -> np.ndarray:
    """The class map's palette colours over the image, as mmseg's ``SegLocalVisualizer``
    draws a prediction without labels (the same arithmetic; classes past the palette,
    e.g. 255, left uncoloured). Pixel-equal to it (tests/test_per_class.py)."""
    mask = np.zeros_like(image_rgb, dtype=np.uint8)
    legal = class_map < len(palette)
    mask[legal] = np.asarray(palette, np.uint8)[class_map[legal]]
    return (image_rgb * (1 - alpha) + mask * alpha).astype(np.uint8)


def prediction_name(image: str) -> str:
    """File name of an image's stored prediction: its stem, flattened, as PNG."""
    stem = os.path.splitext(image)[0]
    return stem.replace(os.sep, '__') + '.png'
