"""Planning: which stage of which row and seed computes which record."""
import hashlib
import json
import os
import shlex
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mmengine.config import Config

from umixformer.input_size import measuring_hw

from .datasets import builtin_identity, dataset_identity, resolve_root_path, synthetic_params
from .pipelines import ROBUSTNESS_PROTOCOLS, apply_pipeline
from .profiles import Profile, apply_profile
from .registry import STAGE_NEEDS, STAGES, Row, Table
from .store import KEY_VERSION, SEEDED_STAGES, Store, run_key
from .weights import localise, weights_dir as default_weights_dir

# stages that measure the model itself: independent of profile, data and seed
MODEL_STAGES = ('complexity', 'latency')


def _hash(obj) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


# how complexity is counted (umixformer.complexity): change when the counts change (the
# meta-tensor counter reproduces FlopAnalyzer exactly, so it keeps the name)
COMPLEXITY_COUNTER = 'mmengine-FlopAnalyzer/tensor-mode/sdpa-as-matmuls/v1'
# latency keys: 2 = without the planning machine's device (1 held it)
LATENCY_KEY_VERSION = 2


def _run_hash(cfg: Config, identity: str) -> str:
    """Hash of a resolved run config, with the data root replaced by the dataset's
    identity (name + file fingerprint) so that moving the data keeps the key."""
    d = {k: v for k, v in cfg.to_dict().items() if k != 'work_dir'}
    from .weights import _checkpoint_refs
    for holder, key in _checkpoint_refs(d):  # the weights folder may move too (configs alias dicts)
        holder[key] = os.path.basename(str(holder[key]))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if isinstance(d.get(loader), dict) and isinstance(d[loader].get('dataset'), dict):
            d[loader]['dataset']['data_root'] = identity
    return _hash({'config': d, 'key_version': KEY_VERSION})


SUITE_PREFIX = 'suite::'  # in a user config's _base_: a path under experiments/configs


def load_base_config(path: str) -> Config:
    """Loads a row's config. A ``_base_`` entry ``'suite::umixformer/x.py'`` names
    a config of this suite (experiments/configs) from a config kept anywhere:
    the file is read through a rewritten copy beside it (relative bases keep
    working), which is removed again."""
    import tempfile
    from umixformer.complexity import load_config
    from .registry import CONFIG_DIR
    with open(path) as f:
        text = f.read()
    if SUITE_PREFIX not in text:
        return load_config(path)
    text = text.replace(SUITE_PREFIX, CONFIG_DIR + os.sep)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path)[:-3] + '-', suffix='.py')
    except OSError as err:
        raise ValueError(f'cannot read {path}: its suite:: bases need a temporary copy beside it ({err})') from None
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        return load_config(tmp)
    finally:
        os.unlink(tmp)


@dataclass
class Task:
    stage: str
    row: Row
    seed: Optional[int]
    key: str
    config_hash: str
    cfg: Config  # the resolved config (profile, data root, seed applied)
    base_cfg: Config  # the config file as written
    data_root: Optional[str]
    profile: str
    rows: List[str] = field(default_factory=list)
    needs: Optional[str] = None  # key of the record this task reads
    options: Dict[str, object] = field(default_factory=dict)  # latency: precision, optimize, ...
    input_hw: Tuple[int, int] = (0, 0)  # complexity, latency: the measuring input the key holds

    @property
    def label(self) -> str:
        seed = f' seed {self.seed}' if self.seed is not None else ''
        return f'{self.stage:<10} {self.row.table}/{self.row.id}{seed}'


def _table_flags(row: Row) -> List[str]:
    """``--tables DIR`` where the row's table is not one of the suite's own."""
    from .registry import TABLE_DIR
    if row.table_dir and os.path.realpath(row.table_dir) != os.path.realpath(TABLE_DIR):
        return ['--tables', row.table_dir]
    return []


def reproduce_command(task: 'Task', data_roots: Dict[str, str], runs_dir: Optional[str] = None,
                      weights_dir: Optional[str] = None) -> str:
    """The command that computes exactly this task's record (into ``runs_dir`` when given)."""
    parts = ['run-experiment', task.row.table] + _table_flags(task.row) + [
        '--rows', task.row.id, '--stages', task.stage, '--profile', task.profile]
    if task.seed is not None:
        parts += ['--seeds', str(task.seed)]
    opts = task.options
    if opts.get('precision', 'fp32') != 'fp32':
        parts += ['--precision', opts['precision']]
    parts += [f'--{flag.replace("_", "-")}' for flag in ('optimize', 'channels_last', 'compile') if opts.get(flag)]
    if task.stage == 'robustness' and opts.get('protocol', 'segformer') != 'segformer':
        parts += ['--cityscapes-c-protocol', opts['protocol']]
    if task.stage == 'robustness' and opts.get('source', 'files') != 'files':
        parts += ['--cityscapes-c-source', opts['source']]
    if task.stage == 'latency' and opts.get('protocol', 'mmseg-benchmark') != 'mmseg-benchmark':
        parts += ['--latency-protocol', opts['protocol']]
    if task.stage == 'latency' and opts.get('device'):
        parts += ['--latency-device', opts['device']]
    for ds, root in sorted(data_roots.items()):
        parts += ['--data-root', f'{ds}={root}']
    if runs_dir:
        parts += ['--runs-dir', os.path.abspath(runs_dir)]
    if weights_dir:
        parts += ['--weights-dir', os.path.abspath(weights_dir)]
    return shlex.join(parts)


def invalidate_command(task: 'Task', store: Store, stage: Optional[str] = None) -> str:
    """The command that sets this task's record (or its row's ``stage`` record) aside.
    It names the task's data root unless that is the built-in data: the root is in the key."""
    data = []
    if task.data_root and not store.is_builtin_root(task.data_root):
        data = ['--data-root', f'{task.row.dataset}={os.path.abspath(task.data_root)}']
    return shlex.join(['run-experiment', 'invalidate', task.row.table] + _table_flags(task.row) + [
        '--rows', task.row.id, '--stages', stage or task.stage, '--profile', task.profile] + (
        ['--seeds', str(task.seed)] if task.seed is not None else []) + data + ['--runs-dir', store.root])


@dataclass(frozen=True)
class LatencyOptions:
    precision: str = 'fp32'
    optimize: bool = False  # fused attention, projected-first fuse, channels-last if faster (same function)
    channels_last: bool = False
    compile: bool = False
    protocol: str = 'mmseg-benchmark'  # or 'single-image' (experiments/latency.py)

    device: str = ''  # declared with --latency-device (e.g. a100): checked on the node before timing

    def suffix(self) -> str:
        proto = {'mmseg-benchmark': 'bench', 'single-image': 'single'}[self.protocol]
        return '-'.join(([self.device] if self.device else []) + [proto, self.precision] + [
            n for n, on in (('opt', self.optimize), ('cl', self.channels_last), ('compile', self.compile)) if on])


def plan(table: Table, rows: Sequence[Row], stages: Optional[Iterable[str]], seeds: Optional[Sequence[int]],
         profile: Profile, data_roots: Dict[str, str], store: Store,
         latency: LatencyOptions = LatencyOptions(),
         robustness_protocol: str = 'segformer', weights_dir: Optional[str] = None,
         robustness_source: str = 'files') -> List[Task]:
    """The tasks for these rows, deduplicated by record key, in execution order.

    A requested stage pulls in the stage it needs (test needs train). Training is
    keyed by the config with the official evaluation pipeline (validation does
    not change the weights), so a row evaluated with another pipeline shares it."""
    if robustness_protocol not in ROBUSTNESS_PROTOCOLS:
        raise ValueError(f'unknown Cityscapes-C protocol {robustness_protocol!r}; known: '
                         f'{", ".join(ROBUSTNESS_PROTOCOLS)}')
    wanted = None if stages is None else set(stages)
    if wanted is not None:
        bad = wanted - set(STAGES)
        if bad:
            raise ValueError(f'unknown stage(s) {sorted(bad)}; known: {", ".join(STAGES)}')
    builtin = store.data_dir() if profile.builtin_data else None
    tasks: Dict[str, Task] = {}
    order: List[str] = []
    for row in rows:
        row_stages = [s for s in row.stages if wanted is None or s in wanted]
        for s in list(row_stages):
            need = STAGE_NEEDS.get(s)
            if need and need not in row_stages and need in row.stages:
                row_stages.append(need)
        if not row_stages:
            continue
        base = load_base_config(row.config)
        root = resolve_root_path(row.dataset, data_roots, builtin)
        is_builtin = builtin is not None and store.is_builtin_root(root)
        if is_builtin:
            identity = builtin_identity(synthetic_params(row.dataset))
        elif any(s not in MODEL_STAGES for s in row_stages) or (
                'latency' in row_stages and latency.protocol == 'mmseg-benchmark'):
            identity = dataset_identity(row.dataset, root, os.path.join(store.root, 'cache'))
        else:
            identity = ''
        model = base.to_dict().get('model')
        hw = measuring_hw(row.dataset, base)
        # a measurement depends on the model, the input size and how it is counted / timed
        measure_hash = {'complexity': _hash({'model': model, 'input_hw': hw, 'counter': COMPLEXITY_COUNTER,
                                             'key_version': KEY_VERSION}),
                        # not the planning machine's device (a login node plans what a GPU node
                        # times): a declared --latency-device only; the record states the device
                        'latency': _hash({'model': model, 'input_hw': hw, 'options': vars(latency),
                                          'key_version': KEY_VERSION, 'latency_key': LATENCY_KEY_VERSION,
                                          # the benchmark protocol times the validation images
                                          'data': identity if latency.protocol == 'mmseg-benchmark' else ''})}
        # N processes train with a global batch of N x the config's: another result, another key
        world = f'-w{row.world_size}' if row.world_size > 1 else ''
        for seed in (row.seeds if seeds is None else seeds):
            train_cfg = apply_profile(base, profile, row.dataset, root, seed, builtin=is_builtin)
            if profile.pretrained:  # read the encoder weights from the weights folder only
                localise(train_cfg, weights_dir or default_weights_dir(store.root))
            train_hash = _run_hash(train_cfg, identity)
            eval_cfg = apply_pipeline(train_cfg, row.pipeline)
            eval_hash = _run_hash(eval_cfg, identity)
            for stage in STAGES:
                if stage not in row_stages:
                    continue
                if stage in MODEL_STAGES:
                    chash = measure_hash[stage]
                    key = run_key(stage, row.config, chash, 'model', None)
                    if stage == 'latency':  # readable: a timing belongs to its settings (and declared device)
                        key += f"-{latency.suffix()}"
                else:
                    chash = train_hash if stage == 'train' else eval_hash
                    key = run_key(stage, row.config, chash, profile.name, seed) + world
                    if stage == 'robustness' and robustness_protocol != 'segformer':
                        key += f'-{robustness_protocol}'
                cfg = train_cfg if stage == 'train' else eval_cfg  # latency: the test loader
                need = STAGE_NEEDS.get(stage)
                need_key = run_key(need, row.config, train_hash, profile.name, seed) + world if need else None
                ref = f'{row.table}/{row.id}'
                if key in tasks:
                    if ref not in tasks[key].rows:
                        tasks[key].rows.append(ref)
                    continue
                tasks[key] = Task(stage=stage, row=row,
                                  seed=seed if stage in SEEDED_STAGES else None, key=key,
                                  config_hash=chash, cfg=cfg, base_cfg=base,
                                  data_root=(root if stage not in MODEL_STAGES or (
                                      stage == 'latency' and latency.protocol == 'mmseg-benchmark') else None),
                                  profile=profile.name, rows=[ref], needs=need_key, input_hw=hw,
                                  options=(dict(vars(latency)) if stage == 'latency' else
                                           {'protocol': robustness_protocol, 'source': robustness_source}
                                           if stage == 'robustness' else {}))
                order.append(key)
    # train first, then the stages reading it, then model-only measurements
    return sorted((tasks[k] for k in order), key=lambda t: STAGES.index(t.stage))
