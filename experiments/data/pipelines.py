"""Evaluation pipelines a row can run, and the Cityscapes-C protocols.

``official`` evaluates with the pipelines the configs carry, which are the official
U-MixFormer ones (ADE20K: Resize then ResizeToMultiple 32, official-runs.md 1.2).
``mmseg-stock`` drops ResizeToMultiple, as stock mmsegmentation 1.2.2 evaluates, so a
user can measure what the step is worth (the official comment credits it with
+0.5-1.0 mIoU). Training is the same under both (only val/test pipelines differ), so
both rows share one training record.
"""
import copy
from typing import Dict

from mmengine.config import Config

from experiments.core.errors import UsageError

PIPELINES: Dict[str, str] = {
    'official': 'the official U-MixFormer evaluation pipelines (ADE20K: ResizeToMultiple 32)',
    'mmseg-stock': 'stock mmsegmentation 1.2.2 evaluation: the same without ResizeToMultiple',
}
EVAL_LOADERS = ('val_dataloader', 'test_dataloader')

# Cityscapes-C (official-runs.md 6.3). 'segformer': corruptions applied to RGB images,
# written once (SegFormer's protocol, imagecorruptions' convention). 'official-bgr': as
# the official runs applied them, on the BGR array mmcv's LoadImageFromFile returns,
# which swaps the colours of frost and spatter.
ROBUSTNESS_PROTOCOLS: Dict[str, str] = {
    'segformer': 'corruptions on RGB images (imagecorruptions convention, SegFormer protocol)',
    'official-bgr': 'corruptions on BGR arrays, as the official Corruptions transform applied them',
}


def apply_pipeline(cfg: Config, name: str) -> Config:
    """``cfg`` with the named evaluation pipeline (a copy unless it is 'official')."""
    if name not in PIPELINES:
        raise UsageError(f'unknown pipeline {name!r}; known: {", ".join(PIPELINES)}')
    if name == 'official':
        return cfg
    cfg = copy.deepcopy(cfg)
    for loader in EVAL_LOADERS:
        if cfg.get(loader):
            ds = cfg[loader].dataset
            ds.pipeline = [t for t in ds.pipeline if t.get('type') != 'ResizeToMultiple']
    return cfg
