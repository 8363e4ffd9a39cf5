"""Configs and models of the suite, as mmseg's ``apis`` offers them: ``load_config``
(``umixformer_config.configs``) and ``build_segmentor``."""
from typing import Union

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules
from umixformer_config.configs import load_config

from . import models  # noqa: F401  (registers the plugins)

__all__ = ['build_segmentor', 'load_config']


def build_segmentor(config: Union[str, Config], eval_mode: bool = True) -> torch.nn.Module:
    """Builds the segmentor of a config without loading pretrained weights."""
    register_all_modules(init_default_scope=True)
    cfg = load_config(config)
    model = MODELS.build(cfg.model)
    model = revert_sync_batchnorm(model)
    return model.eval() if eval_mode else model
