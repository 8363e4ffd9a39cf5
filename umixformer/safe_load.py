"""Checkpoint files are read as data, never run as code.

A ``.pth`` is a pickle: loaded with ``weights_only=False`` it can call any function
(a crafted file downloaded from a cloud drive runs its payload on the machine that
opens it). Every checkpoint this package and the suite read goes through ``load``:
``torch.load(weights_only=True)`` with only the types mmengine/mmseg checkpoints hold
allowed beside tensors and plain containers (numpy scalars and arrays, mmengine's
``HistoryBuffer`` of the message hub, ``argparse.Namespace`` of classification runs). Importing ``umixformer`` also installs ``load``
as mmengine's loader of local files and URLs, so ``init_cfg=dict(type='Pretrained')``,
``load_from`` and ``resume`` read the same way.

A refused file is never to be loaded with ``weights_only=False`` unless every foreign type
it holds is plain data (``HARMLESS``: another library's numbers, dates, containers); only
then does the message give the re-save recipe. Anything else runs code when unpickled,
and the message says so in one line.
"""
import _compat_pickle
import argparse
import os
import pickle
import re
import shlex
import zipfile
from typing import Any, List, Optional, Tuple, Union

import torch
from umixformer_config.errors import UmixformerError


class CheckpointError(UmixformerError, ValueError):
    """A file cannot be read as a checkpoint."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds objects a checkpoint of weights does not need (possibly code)."""


class NotACheckpointError(CheckpointError):
    """The file is no PyTorch checkpoint at all (text, HTML, truncated)."""


# numpy names as older numpy pickled them (numpy < 2 wrote numpy.core.*)
_NUMPY_NAMES = ('scalar', '_reconstruct')
_DTYPE_CODES = '?bBhHiIlLqQefdgFDGSU'


def safe_globals() -> List[Union[type, Tuple[Any, str]]]:
    """What besides tensors and containers a checkpoint of weights may hold."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    # argparse.Namespace: the training arguments classification checkpoints carry (an attribute bag)
    out: List[Union[type, Tuple[Any, str]]] = [np.ndarray, np.dtype, HistoryBuffer, argparse.Namespace]
    for name in _NUMPY_NAMES:
        fn = getattr(multiarray, name)
        out += [fn, (fn, f'numpy.core.multiarray.{name}'), (fn, f'numpy._core.multiarray.{name}')]
    out += list(dict.fromkeys(type(np.dtype(c)) for c in _DTYPE_CODES))
    out.append((_statistics_getattr, 'builtins.getattr'))
    return out


def _statistics_getattr(owner: Any, name: str) -> Any:
    """The one ``getattr`` mmengine checkpoints need: a HistoryBuffer pickles its
    statistics methods as ``getattr(HistoryBuffer, 'mean')``. Anything else is refused."""
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and (name in ('min', 'max', 'current', 'mean')  # its built-ins, set per instance
                                   or name in HistoryBuffer._statistics_methods):
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'Unsupported global: GLOBAL builtins.getattr (of {name!r})')


def _allowed_names() -> set:
    names = set()
    for entry in safe_globals():
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f'{entry.__module__}.{entry.__qualname__}')
    return names


def _unsafe_globals(path: str, err: Exception) -> Tuple[List[str], bool]:
    """The globals the file needs that are not allowed, and whether that list is complete
    (read from the archive when it is a zip; else the unpickler's message names the first)."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        allowed = _allowed_names()
        names = [g for g in found if g not in allowed]
        if names:
            return names, True
    except Exception:  # legacy (non-zip) format
        pass
    return re.findall(r'GLOBAL ([\w.]+)', str(err)), False


# foreign types that are plain data: unpickling them builds a value and calls nothing else.
# Only a file whose every foreign type is one of these is offered the re-save recipe (which
# unpickles the whole file); anything else may run code and is never to be loaded
HARMLESS = frozenset({
    'collections.defaultdict', 'collections.Counter', 'collections.deque', 'decimal.Decimal',
    'fractions.Fraction', 'datetime.datetime', 'datetime.date', 'datetime.time', 'datetime.timedelta',
    'datetime.timezone', 'uuid.UUID', 'pathlib.PosixPath', 'pathlib.PurePosixPath', 'pathlib.WindowsPath',
    'pathlib.PureWindowsPath', 'numpy.float16', 'numpy.float32', 'numpy.float64', 'numpy.int8', 'numpy.int16',
    'numpy.int32', 'numpy.int64', 'numpy.uint8', 'numpy.bool_', 'numpy.ma.core._mareconstruct',
    'numpy.ma.core.MaskedArray', 'numpy.ma.MaskedArray',
    # the built-in data types, as a defaultdict pickles its factory (never eval, exec, getattr, ...)
    'builtins.int', 'builtins.float', 'builtins.complex', 'builtins.str', 'builtins.bytes', 'builtins.bytearray',
    'builtins.bool', 'builtins.list', 'builtins.tuple', 'builtins.dict', 'builtins.set', 'builtins.frozenset',
    'builtins.slice', 'builtins.range'})


def _real_name(name: str) -> str:
    """A pickled global under the name Python 3 imports it by: pickle writes Python 2's
    module names for compatibility (``subprocess.call`` is pickled as ``commands.call``)."""
    module, _, attr = name.rpartition('.')
    module, attr = _compat_pickle.NAME_MAPPING.get((module, attr), (module, attr))
    return f'{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{attr}'


def resave_command(path: str) -> str:
    """The shell command that saves a checkpoint's weights alone beside it, quoted for the
    shell and for Python whatever the file's name (a downloaded file's name is data)."""
    code = (f'import torch; c = torch.load({path!r}, weights_only=False); '
            f'torch.save(c.get("state_dict", c), {path + ".weights.pth"!r})')
    return f'python -c {shlex.quote(code)}'


def refusal(path: str, names: List[str], complete: bool) -> str:
    """One line: do not load a file that runs code; the re-save recipe only where every
    foreign type is plain data (``complete``: ``names`` are all of them, not the first one)."""
    names = [_real_name(n) for n in names]
    shown = ', '.join(names[:5]) + (f' and {len(names) - 5} more' if len(names) > 5 else '')
    if not (complete and names and all(n in HARMLESS for n in names)):
        return (f'refused to load {path}: it runs code when loaded (its pickle calls {shown}): do not load it, '
                'with this suite or with torch.load; delete it and take the checkpoint from its authors\' release')
    return (f'refused to load {path}: it holds {shown}, plain data a checkpoint of weights does not need and '
            f'this suite does not read. It runs no code; save its weights alone once and use that file: '
            f'{resave_command(path)}')


def load(path: str, map_location: Any = 'cpu') -> Any:
    """``torch.load(path, weights_only=True)`` with the allowed types (``safe_globals``).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file holds other objects (nothing of it is run).
        NotACheckpointError: the file is not a PyTorch checkpoint (text, truncated).
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if 'unsupported global' in text.lower():
            names, complete = _unsafe_globals(path, err)
            raise UnsafeCheckpointError(refusal(path, names or ['(unnamed)'], complete)) from None
        raise NotACheckpointError(_not_a_checkpoint(path, err)) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, ValueError, KeyError,
            AttributeError, TypeError) as err:
        raise NotACheckpointError(_not_a_checkpoint(path, err)) from None


def _not_a_checkpoint(path: str, err: Exception) -> str:
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(64)
    what = ('an empty file' if size == 0 else 'a text or HTML file (a login or error page saved instead?)'
            if head.lstrip()[:1] in (b'<', b'{') or head.isascii() and b'\x00' not in head
            else 'a plain pickle, not written by torch.save' if head[:1] == b'\x80' and 'operand' in str(err)
            else 'a truncated or damaged file (a download that broke off?)')
    reason = (str(err).strip().splitlines() or [type(err).__name__])[-1][:160]
    return (f'not a PyTorch checkpoint: {path} ({size:,} bytes) looks like {what}; torch said: {reason}. '
            'Download it again')


def state_dict_of(checkpoint: Any, path: str) -> dict:
    """The state dict inside a loaded checkpoint (``state_dict``, ``model`` or the dict itself)."""
    if isinstance(checkpoint, dict):
        for key in ('state_dict', 'model'):
            if isinstance(checkpoint.get(key), dict):
                return checkpoint[key]
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return checkpoint
    raise NotACheckpointError(f'{path} holds no state dict (a {type(checkpoint).__name__} without tensors)')


def _load_local(filename: str, map_location: Optional[Any] = None) -> Any:
    return load(filename, map_location)


def _load_url(filename: str, map_location: Optional[Any] = None, model_dir: Optional[str] = None,
              progress: bool = True) -> Any:
    """A URL: downloaded once into torch's hub cache (as mmengine does), then read safely."""
    from torch.hub import download_url_to_file, get_dir
    from urllib.parse import urlparse
    folder = model_dir or os.path.join(get_dir(), 'checkpoints')
    os.makedirs(folder, exist_ok=True)
    dst = os.path.join(folder, os.path.basename(urlparse(filename).path))
    if not os.path.exists(dst):
        download_url_to_file(filename, dst, progress=progress)
    return load(dst, map_location)


def install_mmengine_loader() -> None:
    """mmengine reads local files and http(s) checkpoints through ``load`` from now on."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=_load_url, force=True)
