"""Checkpoints written whole or not at all; the one a fine-tuning starts from, checked."""
import json
import os
import re
import shlex
from typing import Any, Dict, List, Optional, Union

from mmengine.fileio.backends import LocalBackend, register_backend

from experiments.core.errors import SuiteError
from experiments.core.files import atomic_write, sha256_of
from experiments.planning.tasks import Task
from umixformer.safe_load import load, state_dict_of

ATOMIC_BACKEND = dict(backend='umix_atomic_local')


@register_backend('umix_atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, but every write goes to a temporary file in
    the same folder and is renamed over the target once complete (and synced):
    a job killed or requeued during a checkpoint save leaves the previous file,
    never a truncated one that a resume would meet. Used by the training's
    ``CheckpointHook`` (``backend_args``) and the preemption checkpoint."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        atomic_write(os.fspath(filepath), obj)

    def put_text(self, obj: str, filepath: Union[str, os.PathLike], encoding: str = 'utf-8') -> None:
        atomic_write(os.fspath(filepath), obj.encode(encoding))


def compare_keys(own: Dict[str, Any], weights: Dict[str, Any]) -> Dict[str, List[str]]:
    """A model's state dict ``own`` against ``weights``: the keys that fit (in both, same
    shape), those in both with another shape, those ``weights`` lacks and those it has
    beyond the model."""
    both = [k for k in weights if k in own]
    same = {k for k in both if tuple(weights[k].shape) == tuple(own[k].shape)}
    return dict(fits=[k for k in both if k in same], other_shape=sorted(k for k in both if k not in same),
                missing=sorted(k for k in own if k not in weights),
                unexpected=sorted(k for k in weights if k not in own))


class StartWeightsError(SuiteError, ValueError):
    """The weights a training is to start from (``load_from``) cannot be used."""


# the per-class layer of a head: the one part a fine-tuning to another class count re-learns
CLASSIFIER = re.compile(r'^(decode_head|auxiliary_head)(\.\d+)?\.conv_seg\.')
START_WEIGHTS = 'load_from.json'  # in the training's run folder: what the first start found


def start_weights_used(task: Task, model, check: bool, work_dir: str) -> Optional[Dict[str, Any]]:
    """What a training starts from (the config's ``load_from``): the file and its sha256 as
    planned into the key; with ``check`` (a new run, not a resumed one) the file is checked
    against that digest, read as data (umixformer.safe_load: a file that runs code is
    refused) and matched with the model: how many of the model's tensors it supplies, and
    which it holds with another shape (mmengine skips those). Refused: a file of the
    official release's layout (its keys are not this model's: it names the conversion), a
    file that supplies none, and one that leaves more than the classifier unloaded (a
    training partly from scratch would pass for a fine-tuning). The classifier alone of
    another shape (another class count) is a fine-tuning; the record says so. What the
    first start found is kept in the run folder: a resumed run's record says it too."""
    path = task.cfg.get('load_from')
    if not path:
        return None
    planned = task.cfg.get('load_from_sha256', '')
    out: Dict[str, Any] = dict(file=os.path.basename(path), sha256=planned)
    kept = os.path.join(work_dir, START_WEIGHTS)
    if not check:
        if os.path.isfile(kept):
            with open(kept) as f:
                out.update(json.load(f))
        return out
    found = sha256_of(path) if os.path.isfile(path) else None
    if found != planned:
        why = 'is gone' if found is None else \
            f'changed since it was planned (sha256 {found[:12]}, planned {planned[:12]})'
        raise StartWeightsError(f'load_from {path} {why}: the record key holds the weights a training starts from; '
                                'plan and run again')
    weights = {re.sub(r'^module\.', '', k): v for k, v in state_dict_of(load(path), path).items()}  # mmengine's revise
    _refuse_official(path, weights)
    own = getattr(model, 'module', model).state_dict()
    keys = compare_keys(own, weights)
    if not keys['fits']:
        raise StartWeightsError(f'load_from {path}: none of its {len(weights)} tensors is one of this model\'s '
                                '(another model); nothing was trained')
    unloaded = [k for k in keys['missing'] + keys['other_shape'] if not CLASSIFIER.match(k)]
    if unloaded:
        raise StartWeightsError(
            f'load_from {path} supplies {len(keys["fits"])} of the model\'s {len(own)} tensors: {len(unloaded)} beyond '
            f'the classifier would keep their initial values ({len(keys["missing"])} missing, '
            f'{len(keys["other_shape"])} of another shape, e.g. {", ".join(unloaded[:3])}); nothing was trained. '
            'Start from weights of this model (the classifier may differ: another class count)')
    out.update(loaded=len(keys['fits']), of=len(own), other_shape=keys['other_shape'], missing=len(keys['missing']),
               unexpected=len(keys['unexpected']))
    atomic_write(kept, json.dumps({k: v for k, v in out.items() if k not in ('file', 'sha256')}).encode())
    return out


def _refuse_official(path: str, weights: Dict[str, Any]) -> None:
    """The official release's layout is converted, never loaded as it is: its encoder keys
    fit, its head's do not, and mmengine would skip them in silence."""
    from umixformer.converters.official import ConversionError, identify_official_state_dict
    try:
        head, _ = identify_official_state_dict(weights)
    except ConversionError:
        return  # this suite's layout
    converted = os.path.splitext(path)[0] + '.converted.pth'
    raise StartWeightsError(
        f'load_from {path} is an official release\'s checkpoint ({head.name}, the authors\' layout: this model would '
        f'load its encoder and drop its head); convert it once and point load_from at the result: '
        f'{shlex.join(["umixformer-convert", path, converted])}')
