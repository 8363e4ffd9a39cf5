"""The record-key grammar, in one place: what a key is made of, its readable parts and
the version constants that retire old keys.

A key reads ``<stage>/<config stem>-<hash[:10]>-<profile or 'model'>`` then, in this order:
``-sN`` (a seeded stage's seed), ``-wN`` (N training processes: another global batch),
the options' suffixes (``-compile[.backend]``, a Cityscapes-C protocol other than
segformer; ``experiments.planning.options``), a timing's settings (``latency_suffix``)
and ``-released-<sha256[:12]>`` (a released checkpoint's evaluation). The hash part is
``content_hash`` of everything the number depends on."""
import hashlib
import json
import os
from typing import Any, Mapping, Optional

# bumped whenever what goes into a key changes: records under older keys are not reused
KEY_VERSION = 2
# latency keys: 2 = without the planning machine's device (1 held it)
LATENCY_KEY_VERSION = 2
# how complexity is counted (umixformer.complexity): change when the counts change (the
# meta-tensor counter reproduces FlopAnalyzer exactly, so it keeps the name)
COMPLEXITY_COUNTER = 'mmengine-FlopAnalyzer/tensor-mode/sdpa-as-matmuls/v1'
# what a training's augmentation draws are a function of (experiments.engine.plugins.resume): in
# the key of every run, since a training made with other draws is another result
TRAINING_DRAWS = 'per-sample-seed(seed,stream-position)/v1'
LATENCY_PROTOCOL_TAGS = {'mmseg-benchmark': 'bench', 'single-image': 'single', 'onnxruntime': 'ort'}


def content_text(obj: Any) -> str:
    """An object's canonical JSON: what ``content_hash`` hashes."""
    return json.dumps(obj, sort_keys=True, default=str)


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def content_hash(obj: Any) -> str:
    """sha1 of an object's canonical JSON (what a key's hash part is made of)."""
    return text_hash(content_text(obj))


def run_key(stage: str, config: str, config_hash: str, profile: str, seed: Optional[int]) -> str:
    """``stage/stem-hash-profile`` and ``-sN`` where ``seed`` is given (a seeded stage)."""
    stem = os.path.splitext(os.path.basename(config))[0]
    key = f'{stage}/{stem}-{config_hash[:10]}-{profile}'
    return key + (f'-s{seed}' if seed is not None else '')


def world_suffix(world_size: int) -> str:
    """N processes train with a global batch of N x the config's: another result."""
    return f'-w{world_size}' if world_size > 1 else ''


def compile_suffix(backend: str) -> str:
    """A training compiled with torch.compile (``--train-compile``; inductor unnamed)."""
    return '' if not backend else '-compile' + ('' if backend == 'inductor' else f'.{backend}')


def latency_suffix(options: Mapping[str, Any]) -> str:
    """A timing's settings: declared device, protocol, precision, then the switches on."""
    proto = LATENCY_PROTOCOL_TAGS[options['protocol']]
    return '-' + '-'.join(([options['device']] if options.get('device') else []) + [proto, options['precision']] + [
        n for n, on in (('opt', options['optimize']), ('cl', options['channels_last']), ('compile', options['compile']))
        if on])


def released_key(key: str, sha256: str) -> str:
    """A released checkpoint's evaluation: the planned key and the file's digest."""
    return f'{key}-released-{sha256[:12]}'
