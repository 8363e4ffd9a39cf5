"""Pretrained encoder weights for offline compute nodes.

The manifest (``experiments/weights.toml``, or ``$UMIX_WEIGHTS_MANIFEST``) lists every
encoder checkpoint the configs load: file name, URL, digest. The weights folder
(``--weights-dir``, ``$UMIX_WEIGHTS``, default ``<runs>/weights``) holds the files.

    run-experiment weights list   [TABLE]   what a table needs (all: every config), and what is there
    run-experiment weights fetch  [TABLE]   download what is missing (atomic, resumable, checked)
    run-experiment weights verify [TABLE]   check what is there
    run-experiment weights add NAME FILE    register a file you downloaded yourself (LVT: no known URL)

With the paper profile every ``init_cfg`` checkpoint of a row's config is replaced by
its file in the weights folder, and a missing or corrupt file fails before any job is
started or submitted, naming the file and the fetch command. Nothing is downloaded
at training time, and on the node each file is checked against its digest again
right before it is loaded (``verify_localised``), as data only (``umixformer.safe_load``).

A file with no published digest (LVT) is registered with ``weights add``: it is read
as a checkpoint (a crafted file is refused), copied into the weights folder and its
full sha256 written to ``<weights folder>/weights.local.json``, which ``verify`` and
the training read from then on.
"""
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from experiments.core.environment import value
from experiments.core.errors import SuiteError
from experiments.core.files import atomic_write, sha256_of
from experiments.registry.schema import SUITE_DIR, read_toml

MANIFEST = os.path.join(SUITE_DIR, 'weights.toml')


class WeightsError(SuiteError, ValueError):
    """A weights file is missing, corrupt, unknown or cannot be fetched."""


@dataclass(frozen=True)
class Weight:
    name: str
    file: str
    url: str
    sha256_prefix: str


def load_manifest(path: Optional[str] = None) -> Dict[str, Weight]:
    """File name -> entry."""
    path = path or value('UMIX_WEIGHTS_MANIFEST') or MANIFEST
    data = read_toml(path, WeightsError, 'no such weights manifest')
    out = {}
    for i, w in enumerate(data.get('weights', [])):
        try:
            entry = Weight(str(w['name']), str(w['file']), str(w.get('url', '')), str(w.get('sha256_prefix', '')))
        except KeyError as err:
            raise WeightsError(f'{path}: weights entry {i + 1} lacks {err}') from None
        out[entry.file] = entry
    return out


def weights_dir(runs_root: str, given: Optional[str] = None) -> str:
    return os.path.abspath(given or value('UMIX_WEIGHTS') or os.path.join(runs_root, 'weights'))


def checkpoint_refs(model: dict) -> List[Tuple[dict, str]]:
    """(dict holding it, key) of every pretrained-checkpoint reference in a model config."""
    refs = []

    def walk(node):
        if isinstance(node, dict):
            init = node.get('init_cfg')
            if isinstance(init, dict) and init.get('type') == 'Pretrained' and init.get('checkpoint'):
                refs.append((init, 'checkpoint'))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(model)
    if model.get('pretrained'):
        refs.append((model, 'pretrained'))
    return refs


def needed_files(model_cfg) -> List[str]:
    return [os.path.basename(str(holder[key])) for holder, key in checkpoint_refs(model_cfg)]


def localise(cfg, folder: str, manifest: Optional[Dict[str, Weight]] = None) -> List[str]:
    """Points every pretrained checkpoint of ``cfg.model`` at the weights folder (in
    place); returns the file names. An unknown checkpoint is an error."""
    manifest = manifest if manifest is not None else load_manifest()
    files = []
    for holder, key in checkpoint_refs(cfg.model):
        name = os.path.basename(str(holder[key]))
        if name not in manifest:
            raise WeightsError(f'pretrained checkpoint {holder[key]} is not in the weights manifest {MANIFEST}; '
                               'add it there (file, url, sha256_prefix)')
        holder[key] = os.path.join(folder, name)
        files.append(name)
    return files


LOCAL_MANIFEST = 'weights.local.json'


def local_manifest(folder: str) -> Dict[str, dict]:
    """File name -> {name, sha256, source, added} of the files registered by ``weights add``."""
    try:
        with open(os.path.join(folder, LOCAL_MANIFEST)) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise WeightsError(f'{os.path.join(folder, LOCAL_MANIFEST)} cannot be read ({err}); restore it or '
                           'register the files again with `run-experiment weights add`') from None
    return data if isinstance(data, dict) else {}


def expected_digest(folder: str, w: Weight) -> Tuple[str, str]:
    """(digest or its prefix, where it comes from); ('', '') when none is known."""
    if w.sha256_prefix:
        return w.sha256_prefix, 'the manifest'
    local = local_manifest(folder).get(w.file, {})
    return (local['sha256'], LOCAL_MANIFEST) if local.get('sha256') else ('', '')


def verify_file(folder: str, w: Weight) -> str:
    """'ok', 'ok (no digest known ...)', 'missing' or 'corrupt: ...'. Digests of unchanged
    files are cached in <folder>/.verified.json."""
    path = os.path.join(folder, w.file)
    if not os.path.isfile(path):
        return 'missing'
    want, source = expected_digest(folder, w)
    if not want:
        return f'ok (no digest known: register it with `run-experiment weights add {w.name} FILE`)'
    st = os.stat(path)
    stamp = [st.st_size, st.st_mtime_ns]
    cache_path = os.path.join(folder, '.verified.json')
    try:
        with open(cache_path) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    digest = cache.get(w.file, {}).get('sha256') if cache.get(w.file, {}).get('stamp') == stamp else None
    if digest is None:
        digest = sha256_of(path)
        cache[w.file] = dict(stamp=stamp, sha256=digest)
        atomic_write(cache_path, json.dumps(cache, indent=1))
    if not digest.startswith(want):
        return f'corrupt: sha256 {digest[:12]}... is not {want[:12]}... ({source})'
    return 'ok' if source == 'the manifest' else f'ok (sha256 from {LOCAL_MANIFEST})'


def fetch_command(folder: str) -> str:
    return f'run-experiment weights fetch --weights-dir {folder}'


def check(files: Iterable[str], folder: str, manifest: Optional[Dict[str, Weight]] = None) -> None:
    """Raises naming every missing or corrupt file and how to get it."""
    manifest = manifest if manifest is not None else load_manifest()
    problems = []
    for name in sorted(set(files)):
        state = verify_file(folder, manifest[name])
        if not state.startswith('ok'):
            how = (fetch_command(folder) + ' (on a machine with internet)' if manifest[name].url else
                   'no download location is known: place the file there by hand (see experiments/weights.toml)')
            problems.append(f'{os.path.join(folder, name)}: {state}; {how}')
    if problems:
        raise WeightsError('pretrained weights not ready, nothing was started:\n  ' + '\n  '.join(problems))


def fetch(w: Weight, folder: str, timeout: float = 60.0) -> str:
    """Downloads one file into ``folder``: to ``<file>.part`` (resumed with an HTTP
    Range request after an interruption), checked against the digest, then renamed
    into place. Returns its state."""
    state = verify_file(folder, w)
    if state.startswith('ok'):
        return state
    if not w.url:
        raise WeightsError(f'{w.file}: no download location is known; place it in {folder} by hand')
    os.makedirs(folder, exist_ok=True)
    dst = os.path.join(folder, w.file)
    part = dst + '.part'
    have = os.path.getsize(part) if os.path.exists(part) else 0
    req = urllib.request.Request(w.url, headers={'Range': f'bytes={have}-'} if have else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resumed = have and resp.status == 206
            length = resp.headers.get('Content-Length')
            expected = (have if resumed else 0) + int(length) if length else None
            with open(part, 'ab' if resumed else 'wb') as f:
                while True:
                    block = resp.read(1 << 20)
                    if not block:
                        break
                    f.write(block)
        if expected is not None and os.path.getsize(part) < expected:
            raise OSError(f'connection closed after {os.path.getsize(part)} of {expected} bytes')
    except (urllib.error.URLError, OSError) as err:
        raise WeightsError(f'{w.file}: download from {w.url} broke off ({err}); run the same command again '
                           f'to resume from {os.path.getsize(part) if os.path.exists(part) else 0} bytes') from None
    digest = sha256_of(part)
    if w.sha256_prefix and not digest.startswith(w.sha256_prefix):
        os.unlink(part)
        raise WeightsError(f'{w.file}: downloaded file has sha256 {digest[:12]}..., expected {w.sha256_prefix}...; '
                           'removed it, nothing was kept')
    os.replace(part, dst)
    return verify_file(folder, w)


def verify_localised(model_cfg, manifest: Optional[Dict[str, Weight]] = None) -> List[str]:
    """On the node, right before the model is built: every pretrained file the
    config reads still matches its digest (cached per size and mtime, so an
    unchanged file is not hashed again). Returns the files; raises WeightsError."""
    manifest = manifest if manifest is not None else load_manifest()
    files = []
    for holder, key in checkpoint_refs(model_cfg):
        path = str(holder[key])
        w = manifest.get(os.path.basename(path))
        if w is None:
            raise WeightsError(f'pretrained checkpoint {path} is not in the weights manifest; nothing was loaded')
        state = verify_file(os.path.dirname(path), w)
        if not state.startswith('ok'):
            raise WeightsError(f'{path}: {state}; nothing was loaded. {fetch_command(os.path.dirname(path))}')
        files.append(path)
    return files


def find_weight(name: str, manifest: Optional[Dict[str, Weight]] = None) -> Weight:
    manifest = manifest if manifest is not None else load_manifest()
    for w in manifest.values():
        if name in (w.name, w.file):
            return w
    raise WeightsError(f'unknown weights {name!r}; known: {", ".join(sorted(w.name for w in manifest.values()))}')


def add(name: str, src: str, folder: str, manifest: Optional[Dict[str, Weight]] = None) -> Tuple[Weight, str]:
    """Registers a file the user downloaded: read as data (refused if it holds code or no
    tensors), checked against the published digest where one is known, copied into the
    folder atomically, its sha256 written to the local manifest. Returns (entry, sha256)."""
    import shutil
    import time

    from umixformer.safe_load import CheckpointError, load, state_dict_of
    w = find_weight(name, manifest)
    if not os.path.isfile(src):
        raise WeightsError(f'{src}: no such file')
    try:
        tensors = state_dict_of(load(src), src)
    except CheckpointError as err:
        raise WeightsError(f'{src} was not registered: {err}') from None
    digest = sha256_of(src)
    if w.sha256_prefix and not digest.startswith(w.sha256_prefix):
        raise WeightsError(f'{src} is not {w.file}: its sha256 {digest[:12]}... does not start with the published '
                           f'{w.sha256_prefix}')
    dst = os.path.join(folder, w.file)
    there = sha256_of(dst) if os.path.exists(dst) else None
    if there is not None and there != digest:
        raise WeightsError(f'{dst} exists and is another file (sha256 {there[:12]}...); remove it first to '
                           'replace it, nothing was changed')
    os.makedirs(folder, exist_ok=True)
    if there is None:
        part = dst + '.part'
        shutil.copyfile(src, part)
        os.replace(part, dst)
    local = local_manifest(folder)
    local[w.file] = dict(name=w.name, sha256=digest, source=os.path.abspath(src), tensors=len(tensors),
                         added=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
    atomic_write(os.path.join(folder, LOCAL_MANIFEST), json.dumps(local, indent=1, sort_keys=True))
    return w, digest
