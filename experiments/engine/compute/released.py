"""Released checkpoints: identify each file in a folder by its state-dict signature and
match it to a table's row, so the mIoU column can be reproduced without training.

    run-experiment evaluate TABLE --checkpoints DIR [--stages test,robustness]

The signature of a checkpoint is its official decode head (``layouts.identify``: ADE20K,
Cityscapes, dagger and ablation heads, with stage widths, fuse width and classes) and its
encoder (MiT, MSCAN or LVT, with widths and depths per stage). A row's signature comes
from its config. A file matching no row, or two files matching one row, is listed with
the reason and not evaluated. Matched files are converted to this project's layout,
checked key by key against the row's model (strict), and evaluated by the test stage;
the records carry the file's sha256 and ``weights = released`` (records written before
2026-12-04 say ``source = released``).
"""
import copy
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from experiments.core.errors import SuiteError
from experiments.core.keys import released_key
from experiments.core.files import sha256_of
from experiments.engine.plugins.checkpoints import compare_keys
from experiments.planning.configs import load_base_config
from experiments.planning.task import ReleasedWeights, Task
from experiments.registry.rows import Row
from experiments.registry.tables import Table
from experiments.store import Store
from umixformer.safe_load import CheckpointError, load, state_dict_of

Signature = Tuple


class ReleasedError(SuiteError, ValueError):
    """A checkpoint cannot be read, matched or loaded."""


def _stage_depths(keys: Sequence[str], pattern: str) -> List[int]:
    """Number of distinct block indices per stage for keys matching ``pattern``
    (groups: stage, block)."""
    seen: Dict[int, set] = {}
    for k in keys:
        m = re.match(pattern, k)
        if m:
            seen.setdefault(int(m[1]), set()).add(int(m[2]))
    return [len(seen[s]) for s in sorted(seen)]


def encoder_signature_from_state(sd: Mapping[str, torch.Tensor]) -> Signature:
    """(family, widths, depths) of the encoder weights in a segmentor state dict."""
    keys = [k for k in sd if k.startswith('backbone.')]
    if any(k.startswith('backbone.layers.') for k in keys):
        widths = [int(sd[f'backbone.layers.{i}.0.projection.weight'].shape[0]) for i in range(4)]
        return ('mit', tuple(widths), tuple(_stage_depths(keys, r'backbone\.layers\.(\d+)\.1\.(\d+)\.')))
    if any(k.startswith('backbone.block1.') for k in keys):
        widths = [int(sd[f'backbone.block{i}.0.norm1.weight'].shape[0]) for i in range(1, 5)]
        return ('mscan', tuple(widths), tuple(_stage_depths(keys, r'backbone\.block(\d+)\.(\d+)\.')))
    if any(k.startswith('backbone.backbone.') for k in keys):
        widths = [int(sd[f'backbone.backbone.{i}.0.proj.weight'].shape[0]) for i in range(4)]
        return ('lvt', tuple(widths), tuple(_stage_depths(keys, r'backbone\.backbone\.(\d+)\.1\.(\d+)\.')))
    raise ReleasedError('encoder not recognised (neither MiT, MSCAN nor LVT keys under backbone.)')


def encoder_signature_from_config(backbone: Mapping) -> Signature:
    kind = backbone['type']
    if kind in ('MixVisionTransformer', 'MixVisionTransformerTaps'):
        heads = backbone.get('num_heads', [1, 2, 5, 8])
        return ('mit', tuple(backbone['embed_dims'] * h for h in heads), tuple(backbone['num_layers']))
    if kind == 'MSCAN':
        return ('mscan', tuple(backbone['embed_dims']), tuple(backbone['depths']))
    if kind == 'LVT':
        return ('lvt', tuple(backbone['embed_dims']), tuple(backbone['num_layers']))
    return (kind, (), ())


def checkpoint_signature(sd: Mapping[str, torch.Tensor]) -> Tuple[Signature, str]:
    """(signature, official head name) of an official segmentor state dict."""
    from umixformer.converters.official import identify_official_state_dict
    head, info = identify_official_state_dict(sd)
    sig = (head.name, tuple(info['in_channels']), info['channels'], info['num_classes'],
           encoder_signature_from_state(sd))
    return sig, head.name


def row_signature(row: Row, base_cfg) -> Optional[Signature]:
    """The signature a row's model has, or None when its head is no official
    U-MixFormer head (baselines, this project's own variants)."""
    from mmseg.registry import MODELS

    from umixformer.converters.layouts import match_head
    head_cfg = dict(base_cfg.model.decode_head)
    if head_cfg.get('type') not in ('UMixFormerHead', ):
        return None
    head_cfg['norm_cfg'] = dict(type='BN', requires_grad=True)  # no process group needed
    head = MODELS.build(head_cfg)
    official = match_head(head)
    if official is None:
        return None
    return (official.name, tuple(head.in_channels), head.channels, head.num_classes,
            encoder_signature_from_config(base_cfg.model.backbone))


@dataclass
class Match:
    path: str
    sha256: str = ''
    head: str = ''
    rows: List[str] = field(default_factory=list)
    problem: str = ''


def match_folder(table: Table, rows: Sequence[Row], folder: str) -> Tuple[List[Match], Dict[str, Match]]:
    """Every ``.pth`` under ``folder`` matched to ``rows``. Returns all files (with a
    problem when unusable) and, per row id, the one file to evaluate. A file that
    matches only a row of the table that ``rows`` leaves out names that row."""
    if not os.path.isdir(folder):
        raise ReleasedError(f'--checkpoints {folder} is not a folder')
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs if f.endswith('.pth'))
    if not files:
        raise ReleasedError(f'no .pth file under {folder}')
    selected = {r.id for r in rows}
    sigs: Dict[Signature, List[str]] = {}
    for row in table.runnable():
        sig = row_signature(row, load_base_config(row.config))
        if sig is not None:
            sigs.setdefault(sig, []).append(row.id)
    out: List[Match] = []
    for path in files:
        m = Match(path=path)
        out.append(m)
        try:
            sd = state_dict_of(load(path), path)  # read as data: a crafted file is refused, never run
        except CheckpointError as err:
            m.problem = str(err)
            continue
        try:
            sig, m.head = checkpoint_signature(sd)
        except Exception as err:  # any unknown layout is listed, not fatal
            m.problem = f'not identified: {str(err).splitlines()[0]}'
            continue
        m.sha256 = sha256_of(path)
        matching = sigs.get(sig, [])
        m.rows = [r for r in matching if r in selected]
        if matching and not m.rows:
            m.problem = (f'matches row {", ".join(matching)} of {table.name}, which this command did not select '
                         f'(the profile\'s rows or --rows): add --rows {",".join(matching)} to evaluate it')
        elif not matching:
            enc = sig[4]
            m.problem = (f'matches no row of {table.name}: head {sig[0]}, stage widths {list(sig[1][:4])}, '
                         f'fuse {sig[2]}, {sig[3]} classes, encoder {enc[0]} widths {list(enc[1])} '
                         f'depths {list(enc[2])}')
    chosen: Dict[str, Match] = {}
    for row in rows:
        hits = [m for m in out if row.id in m.rows]
        if len(hits) == 1:
            chosen[row.id] = hits[0]
        elif len(hits) > 1:
            names = ', '.join(os.path.basename(h.path) for h in hits)
            for h in hits:
                h.problem = f'ambiguous: {names} all match row {row.id}; keep one of them in the folder'
    return out, chosen


def convert_released(m: Match, runs_root: str) -> str:
    """The converted checkpoint (this project's layout) under <runs>/released/, written once."""
    from umixformer.converters import convert_official_checkpoint
    dst = os.path.join(runs_root, 'released', f'{m.sha256[:16]}.pth')
    if not os.path.exists(dst):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        convert_official_checkpoint(m.path, dst)
    return dst


def check_strict(converted: str, cfg) -> None:
    """Every key of the row's model present with its shape, and nothing else."""
    from umixformer.complexity import build_segmentor
    model = build_segmentor(cfg)
    keys = compare_keys(model.state_dict(), state_dict_of(load(converted), converted))
    if keys['missing'] or keys['unexpected'] or keys['other_shape']:
        raise ReleasedError(f'{converted} does not load strictly: missing {keys["missing"][:5]}, unexpected '
                            f'{keys["unexpected"][:5]}, wrong shapes {keys["other_shape"][:5]}')


def released_tasks(tasks: Sequence[Task], chosen: Mapping[str, Match], stages: Sequence[str], store: Store) -> List[Task]:
    """The test/robustness tasks of the rows a released file was matched to, each
    reading that file (converted, checked strictly) instead of the row's training: its
    own key (``-released-<sha256>``), no training needed."""
    out = []
    for t in tasks:
        m = chosen.get(t.row.id)
        if m is None or t.stage not in stages:
            continue
        converted = convert_released(m, store.root)
        r = copy.copy(t)
        r.key = released_key(t.key, m.sha256)
        r.needs = None
        # its own field: the options (e.g. how Cityscapes-C is read) stay as asked
        r.released = ReleasedWeights(file=os.path.abspath(m.path), sha256=m.sha256, checkpoint=store.rel(converted))
        check_strict(converted, r.cfg)
        out.append(r)
    return out
