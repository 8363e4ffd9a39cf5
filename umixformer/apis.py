"""Configs and models of the suite, as mmseg's ``apis`` offers them: ``load_config`` and
``build_segmentor``.

Importing this module installs, once, a cached index of mmseg's model zoo for the
``mmseg::`` bases of configs (mmengine parses every metafile, about 1,500 YAML files,
0.25 s, for each such base otherwise)."""
import hashlib
import json
import os
import tempfile
from typing import Union

import mmengine.config.utils as cfg_utils
import torch
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.model import revert_sync_batchnorm
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

from . import models  # noqa: F401  (registers the plugins)
from .errors import ConfigError, ConfigNotFoundError

_METAINFO_INDEX: dict = {}


def _cached_cfg_metainfo(package_path: str, cfg_path: str) -> dict:
    """mmengine's ``_get_cfg_metainfo`` with its index built once per package: the
    original parses every metafile of mmseg's model zoo (about 1,500 YAML files, 0.25 s)
    for each ``mmseg::`` base of each config. Same lookup, same result."""
    index = _METAINFO_INDEX.get(package_path)
    if index is None:
        # kept on disk too (one parse per installed package version, not per command)
        top = os.path.join(package_path, '.mim', 'model-index.yml')
        tag = hashlib.sha1(f'{top}:{os.stat(top).st_mtime_ns}'.encode()).hexdigest()[:16]
        cache = os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'umixformer',
                             f'mim-index-{tag}.json')
        try:
            with open(cache) as f:
                index = json.load(f)
        except (OSError, ValueError):
            index = {}
            for meta_path in load(top)['Import']:
                for model_cfg in load(os.path.join(package_path, '.mim', meta_path))['Models']:
                    if 'Config' in model_cfg:
                        index.setdefault(model_cfg['Config'].partition('/')[-1], model_cfg)
            try:
                os.makedirs(os.path.dirname(cache), exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(cache), suffix='.part')
                with os.fdopen(fd, 'w') as f:
                    json.dump(index, f, default=str)
                os.replace(tmp, cache)
            except OSError:
                pass  # a read-only home: parse again next time
        _METAINFO_INDEX[package_path] = index
    if cfg_path not in index:
        raise ValueError(f'Expected configs: {index.keys()}, but got {cfg_path}')
    return index[cfg_path]


def load_config(config: Union[str, Config]) -> Config:
    """Loads a config file, naming the file in the error when it is malformed."""
    if isinstance(config, Config):
        return config
    if not os.path.isfile(config):
        raise ConfigNotFoundError(f'config not found: {config}')
    try:
        return Config.fromfile(config)
    except Exception as err:  # mmengine raises many kinds for a broken file
        raise ConfigError(f'cannot load config {config}: {err}') from err


def build_segmentor(config: Union[str, Config], eval_mode: bool = True) -> torch.nn.Module:
    """Builds the segmentor of a config without loading pretrained weights."""
    register_all_modules(init_default_scope=True)
    cfg = load_config(config)
    model = MODELS.build(cfg.model)
    model = revert_sync_batchnorm(model)
    return model.eval() if eval_mode else model


cfg_utils._get_cfg_metainfo = _cached_cfg_metainfo
