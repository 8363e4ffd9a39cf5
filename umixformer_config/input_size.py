"""The paper's input sizes, stated once.

* A config's **crop** is its ``model.data_preprocessor.size``: 512x512 on ADE20K (640x640
  for the B5 640 recipe), 1024x1024 on Cityscapes. Profiles that shrink training scale
  the pipelines by their crop over this one.
* The **measuring input** of the paper's params/GFLOPs and FPS (Tables 1, 2 and the
  latency table): on ADE20K the config's crop; on Cityscapes the whole 2048x1024 image,
  the dataset's test size (official-runs.md: complexity at 2048x1024).

``umixformer-complexity`` and the suite's complexity and latency stages all read
``measuring_hw``; record keys hold its value.
"""
from typing import Any, Tuple

from .errors import ConfigError

CITYSCAPES_TEST_HW = (1024, 2048)  # (H, W): every Cityscapes image


def config_crop(cfg: Any) -> Tuple[int, int]:
    """(H, W) of a config's training crop (``model.data_preprocessor.size``)."""
    size = (cfg.model.get('data_preprocessor') or {}).get('size')
    if not size:
        raise ConfigError('the config has no model.data_preprocessor.size (its crop); mmseg 1.x segmentor '
                         'configs set it, e.g. data_preprocessor = dict(size=crop_size, ...)')
    return tuple(int(s) for s in size)


def measuring_hw(dataset: str, cfg: Any) -> Tuple[int, int]:
    """(H, W) at which the paper counts complexity and times inference for ``cfg`` on ``dataset``."""
    if dataset == 'cityscapes':
        return CITYSCAPES_TEST_HW
    if dataset == 'ade20k':
        return config_crop(cfg)
    raise ConfigError(f'no measuring input size is known for dataset {dataset!r} (ade20k, cityscapes)')
