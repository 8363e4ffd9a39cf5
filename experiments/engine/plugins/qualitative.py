"""Predictions that can be looked at: the test stage adds ``KeepPredictionsHook`` for the
validation images ``experiments.data.samples.choose`` picked; it writes the
predicted class map of each chosen image (uint8 PNG, the model's class indices) into
``<run folder>/predictions/`` as mmseg's test loop produces it: nothing is inferred a
second time and the pipeline is the test's own.
"""
import os
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from experiments.core.files import atomic_write
from experiments.data.samples import prediction_name


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
