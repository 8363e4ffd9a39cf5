"""Predictions that can be looked at: a few fixed validation images per dataset root.

The images are chosen once per dataset root (``choose``: a draw by the profile's
``qualitative_seed`` of its ``qualitative_images`` from the sorted validation file list),
so every row evaluated on that root keeps its prediction of the same images. The test stage adds ``KeepPredictionsHook``, which writes the
predicted class map of each chosen image (uint8 PNG, the model's class indices) into
``<run folder>/predictions/`` as mmseg's test loop produces it: nothing is inferred a
second time and the pipeline is the test's own.
"""
import os
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .datasets import LAYOUTS

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


@HOOKS.register_module()
class KeepPredictionsHook(Hook):
    """Writes the predicted class map of the chosen validation images during the test.

    Args:
        images (Sequence[str]): image paths relative to the validation image folder.
        out_dir (str): where the PNGs go.
    """

    priority = 'LOW'

    def __init__(self, images: Sequence[str], out_dir: Optional[str]) -> None:
        self.images = {os.path.normpath(i) for i in images}
        self.out_dir = out_dir  # None: keep nothing (the robustness stage sets it per corruption)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        from .store import atomic_write
        if self.out_dir is None:
            return
        for sample in outputs or []:
            path = sample.metainfo.get('img_path', '')
            rel = next((i for i in self.images if path.endswith(os.sep + i) or path == i), None)
            if rel is None:
                continue
            pred = sample.pred_sem_seg.data.squeeze(0).cpu().numpy().astype(np.uint8)
            ok, png = cv2.imencode('.png', pred)
            os.makedirs(self.out_dir, exist_ok=True)
            atomic_write(os.path.join(self.out_dir, prediction_name(rel)), png.tobytes())
