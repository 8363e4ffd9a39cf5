"""Reading configs: ``load_config`` (mmengine's, naming the file when it is malformed) and
``read_config``, the same content without importing the config's ``custom_imports`` (no
model code) and cached by the content of the file and its bases.

Importing this module installs, once, a cached index of mmseg's model zoo for the
``mmseg::`` bases of configs (mmengine parses every metafile, about 1,500 YAML files,
0.25 s, for each such base otherwise)."""
import ast
import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple, Union

import mmengine.config.utils as cfg_utils
from mmengine.config import Config, ConfigDict
from mmengine.fileio import load

from .errors import ConfigError, ConfigNotFoundError

# a cache entry's format; its key also holds mmengine's version (the parser)
CACHE_FORMAT = 2
_METAINFO_INDEX: dict = {}


def cache_dir() -> str:
    """Where parsed configs and the model-zoo index are kept: per user, outside any store."""
    return os.path.join(os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'umixformer')


def _write_cache(path: str, obj: Any) -> None:
    """Atomically; a read-only home means no cache (read again next time), never an error."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.part')
    except OSError:
        return
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f, default=str)
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)


def _cached_cfg_metainfo(package_path: str, cfg_path: str) -> dict:
    """mmengine's ``_get_cfg_metainfo`` with its index built once per package: the
    original parses every metafile of mmseg's model zoo (about 1,500 YAML files, 0.25 s)
    for each ``mmseg::`` base of each config. Same lookup, same result."""
    index = _METAINFO_INDEX.get(package_path)
    if index is None:
        # kept on disk too (one parse per installed package version, not per command)
        top = os.path.join(package_path, '.mim', 'model-index.yml')
        tag = hashlib.sha1(f'{top}:{os.stat(top).st_mtime_ns}'.encode()).hexdigest()[:16]
        cache = os.path.join(cache_dir(), f'mim-index-{tag}.json')
        try:
            with open(cache) as f:
                index = json.load(f)
        except (OSError, ValueError):
            index = {}
            for meta_path in load(top)['Import']:
                for model_cfg in load(os.path.join(package_path, '.mim', meta_path))['Models']:
                    if 'Config' in model_cfg:
                        index.setdefault(model_cfg['Config'].partition('/')[-1], model_cfg)
            _write_cache(cache, index)
        _METAINFO_INDEX[package_path] = index
    if cfg_path not in index:
        raise ValueError(f'Expected configs: {index.keys()}, but got {cfg_path}')
    return index[cfg_path]


cfg_utils._get_cfg_metainfo = _cached_cfg_metainfo


def load_config(config: Union[str, Config], import_custom_modules: bool = True) -> Config:
    """Loads a config file, naming the file in the error when it is malformed.
    ``import_custom_modules=False`` reads it without importing its ``custom_imports``."""
    if isinstance(config, Config):
        return config
    if not os.path.isfile(config):
        raise ConfigNotFoundError(f'config not found: {config}')
    try:
        return Config.fromfile(config, import_custom_modules=import_custom_modules)
    except Exception as err:  # mmengine raises many kinds for a broken file
        raise ConfigError(f'cannot load config {config}: {err}') from err


# --- the parsed-config cache -------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _version(distribution: str) -> str:
    """An installed distribution's version, looked up once per process (0.7 ms each)."""
    return importlib.metadata.version(distribution)


def _bases(text: str) -> Optional[List[str]]:
    """A config text's ``_base_`` entries; None where they are not a plain literal."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id == '_base_':
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return None
            return [value] if isinstance(value, str) else list(value)
    return []


def _sources(path: str, text: str, depth: int = 0) -> Optional[List[Tuple[str, str]]]:
    """(name, digest) of the file and, recursively, every base it reads: what its parsed
    content depends on. None where that cannot be told from the files alone (an
    environment variable in the text, bases that are not literals): such a file is not cached."""
    bases = _bases(text)
    if depth > 16 or bases is None or '{{$' in text or 'read_base' in text:
        return None
    found = [(os.path.abspath(path), hashlib.sha256(text.encode()).hexdigest())]
    for base in bases:
        if '::' in base:  # a package's config: fixed by the package's version
            scope = base.partition('::')[0]
            try:
                version = _version(cfg_utils.PKG2PROJECT.get(scope, scope))
            except importlib.metadata.PackageNotFoundError:
                return None
            found.append((base, version))
            continue
        base_path = os.path.join(os.path.dirname(path), base)
        try:
            with open(base_path, encoding='utf-8') as f:
                sub = _sources(base_path, f.read(), depth + 1)
        except OSError:
            return None
        if sub is None:
            return None
        found += sub
    return found


def _encode(obj: Any, seen: Dict[int, int]) -> Any:
    """JSON of a config's content that keeps what JSON would lose: tuples (mmseg reads
    scales as tuples) and shared objects (``{{_base_.x}}`` puts one dict in two places, and
    what changes one changes both, as the profiles' in-place scaling does)."""
    if isinstance(obj, tuple):
        return {'t': [_encode(v, seen) for v in obj]}
    if isinstance(obj, (list, ConfigDict)):
        if id(obj) in seen:
            return {'r': seen[id(obj)]}
        seen[id(obj)] = len(seen)
        if isinstance(obj, list):
            return {'l': [_encode(v, seen) for v in obj]}
        return {'d': [[k, _encode(v, seen)] for k, v in dict.items(obj)]}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f'{type(obj).__name__} cannot be cached')  # a plain dict too: it would come back a ConfigDict


def _decode(obj: Any, made: List[Any]) -> Any:
    """The objects of ``_encode``, the shared ones shared again (``made``: by their order)."""
    if not isinstance(obj, dict):
        return obj
    if 't' in obj:
        return tuple(_decode(v, made) for v in obj['t'])
    if 'r' in obj:
        return made[obj['r']]
    if 'l' in obj:
        out: Any = []
        made.append(out)
        out.extend(_decode(v, made) for v in obj['l'])
        return out
    out = ConfigDict()
    made.append(out)
    for k, v in obj['d']:
        dict.__setitem__(out, k, _decode(v, made))  # as it was: ConfigDict's own setitem would copy lists
    return out


def read_config(path: str, text: Optional[str] = None) -> Config:
    """The config at ``path`` (``text``: its content rewritten, e.g. its bases, where it
    differs from the file's), parsed without importing its ``custom_imports``: no model code runs.

    Kept in the user's cache (``cache_dir()``) under the digest of the file's and every
    base's content, the path and mmengine's version, so a second read costs a JSON load
    (a parse is about 0.15 s per config). A file whose content depends on more than that
    (environment variables) is parsed every time."""
    rewritten = text is not None
    if not rewritten:
        if not os.path.isfile(path):
            raise ConfigNotFoundError(f'config not found: {path}')
        with open(path, encoding='utf-8') as f:
            text = f.read()
    sources = _sources(path, text)
    key = hashlib.sha256(json.dumps([CACHE_FORMAT, _version('mmengine'), sources]).encode())
    cache = os.path.join(cache_dir(), 'configs', key.hexdigest()[:32] + '.json') if sources else None
    if cache:
        try:
            with open(cache) as f:
                kept = json.load(f)
            return Config(_decode(kept['config'], []), cfg_text=kept['text'], filename=kept['filename'])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not kept yet, or damaged: parsed below and written again
    cfg = _parse(path, text) if rewritten else load_config(path, import_custom_modules=False)
    if cache:
        try:
            entry = {'config': _encode(cfg._cfg_dict, {}), 'text': cfg.text, 'filename': cfg.filename}
        except TypeError:  # something JSON cannot hold: not cached
            return cfg
        _write_cache(cache, entry)
    return cfg


def _parse(path: str, text: str) -> Config:
    """mmengine's parse of ``text`` as if it were the file at ``path`` (relative bases work)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path)[:-3] + '-', suffix='.py')
    except OSError as err:
        raise ConfigError(f'cannot read {path}: its rewritten bases need a temporary copy beside it ({err})') from None
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        return load_config(tmp, import_custom_modules=False)
    finally:
        os.unlink(tmp)
