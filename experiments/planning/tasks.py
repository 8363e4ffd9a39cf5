"""Planning: which stage of which row and seed computes which record.

``plan`` turns rows into tasks, each with its record key: a hash of everything the
number depends on (the resolved config with the data root replaced by the dataset's
identity, or, for the model-only stages, the model, the measuring input and how it is
counted or timed). Tasks with the same key are one task that several rows share."""
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mmengine.config import Config

from experiments.core.errors import UsageError
from experiments.core.files import sha256_of
from experiments.data.datasets import builtin_identity, dataset_identity, resolve_root_path, synthetic_params
from experiments.data.pipelines import ROBUSTNESS_PROTOCOLS, apply_pipeline
from experiments.planning.configs import load_base_config
from experiments.planning.options import LatencyOptions
from experiments.registry.profiles import Profile, apply_profile
from experiments.registry.rows import Row
from experiments.registry.schema import MODEL_STAGES, STAGE_NEEDS, STAGES
from experiments.registry.weights import checkpoint_refs, localise
from experiments.registry.weights import weights_dir as default_weights_dir
from experiments.store import Store
from experiments.store.keys import KEY_VERSION, SEEDED_STAGES, content_hash, run_key
from umixformer.input_size import measuring_hw

# how complexity is counted (umixformer.complexity): change when the counts change (the
# meta-tensor counter reproduces FlopAnalyzer exactly, so it keeps the name)
COMPLEXITY_COUNTER = 'mmengine-FlopAnalyzer/tensor-mode/sdpa-as-matmuls/v1'
# latency keys: 2 = without the planning machine's device (1 held it)
LATENCY_KEY_VERSION = 2
# what a training's augmentation draws are a function of (experiments.engine.resume): in
# the key of every run, since a training made with other draws is another result
TRAINING_DRAWS = 'per-sample-seed(seed,stream-position)/v1'
# torch.compile backends a training may use (inductor: the default, generated kernels;
# aot_eager / eager: the traced graphs run by PyTorch, for debugging a graph break)
COMPILE_BACKENDS = ('inductor', 'aot_eager', 'eager')


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


def run_hash(cfg: Config, identity: str) -> str:
    """Hash of a resolved run config, with the data root replaced by the dataset's
    identity (name + file fingerprint) so that moving the data keeps the key."""
    d = {k: v for k, v in cfg.to_dict().items() if k != 'work_dir'}
    for holder, key in checkpoint_refs(d):  # the weights folder may move too (configs alias dicts)
        holder[key] = os.path.basename(str(holder[key]))
    if d.get('load_from'):  # its content is in the key (load_from_sha256), its folder is not
        d['load_from'] = os.path.basename(str(d['load_from']))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if isinstance(d.get(loader), dict) and isinstance(d[loader].get('dataset'), dict):
            d[loader]['dataset']['data_root'] = identity
    return content_hash({'config': d, 'key_version': KEY_VERSION, 'draws': TRAINING_DRAWS})


@dataclass(frozen=True)
class _Request:
    """What ``plan`` was asked besides the rows (one value per planning call)."""
    profile: Profile
    data_roots: Dict[str, str]
    store: Store
    latency: LatencyOptions
    robustness_protocol: str
    robustness_source: str
    weights_dir: Optional[str]
    train_compile: str = ''

    def reads_data(self, stages: Sequence[str]) -> bool:
        """Whether these stages read the dataset (the benchmark latency protocol does)."""
        return any(s not in MODEL_STAGES for s in stages) or (
            'latency' in stages and self.latency.protocol == 'mmseg-benchmark')

    def stage_options(self, stage: str) -> Dict[str, object]:
        if stage == 'latency':
            return dict(vars(self.latency))
        if stage in MODEL_STAGES:
            return {}
        out: Dict[str, object] = {'train_compile': self.train_compile} if self.train_compile else {}
        if stage == 'robustness':
            out.update(protocol=self.robustness_protocol, source=self.robustness_source)
        return out


def _row_stages(row: Row, wanted: Optional[set]) -> List[str]:
    """The row's stages that were asked for, with the stages they need."""
    out = [s for s in row.stages if wanted is None or s in wanted]
    for s in list(out):
        need = STAGE_NEEDS.get(s)
        if need and need not in out and need in row.stages:
            out.append(need)
    return out


def _measure_hashes(model: dict, hw: Tuple[int, int], identity: str, req: _Request) -> Dict[str, str]:
    """A measurement depends on the model, the input size and how it is counted / timed;
    latency not on the planning machine's device (a login node plans what a GPU node
    times): a declared --latency-device only; the record states the device."""
    return {'complexity': content_hash({'model': model, 'input_hw': hw, 'counter': COMPLEXITY_COUNTER,
                                        'key_version': KEY_VERSION}),
            'latency': content_hash({'model': model, 'input_hw': hw, 'options': vars(req.latency),
                                     'key_version': KEY_VERSION, 'latency_key': LATENCY_KEY_VERSION,
                                     # the benchmark protocol times the validation images
                                     'data': identity if req.latency.protocol == 'mmseg-benchmark' else ''})}


def start_weights(row: Row, cfg: Config) -> Dict[str, str]:
    """A config's ``load_from`` (fine-tuning: the training starts from those weights), as
    the config entries a training gets: the path (absolute: a SLURM job re-plans from the
    checkout, not from the folder the user planned in, so a relative path could name another
    file there) and its sha256 beside it, so that the record key holds the weights a
    training started from ({} without one). The training checks the digest again before
    it reads the file."""
    value = cfg.get('load_from')
    if not value:
        return {}
    value = str(value)
    where = f'{row.table}/{row.id} ({row.config}): load_from = {value!r}'
    if '://' in value:
        raise UsageError(f'{where}: download the file and give its path: the record key holds the sha256 of the '
                         'weights a training starts from')
    path = os.path.expanduser(value)
    if not os.path.isabs(path):
        raise UsageError(f'{where}: give an absolute path ({os.path.abspath(path)}, if that is the file): a SLURM '
                         'job reads it from another folder than the one you plan from')
    if not os.path.isfile(path):
        raise UsageError(f'{where}: no such file. Give the checkpoint\'s path, or remove load_from to train from '
                         'the encoder\'s pretrained weights')
    return dict(load_from=path, load_from_sha256=sha256_of(path))


def _row_tasks(row: Row, stages: List[str], seeds: Sequence[int], req: _Request) -> List[Task]:
    """The tasks of one row (before deduplication across rows)."""
    builtin = req.store.data_dir() if req.profile.builtin_data else None
    base = load_base_config(row.config)
    root = resolve_root_path(row.dataset, req.data_roots, builtin)
    is_builtin = builtin is not None and req.store.is_builtin_root(root)
    if is_builtin:
        identity = builtin_identity(synthetic_params(row.dataset))
    elif req.reads_data(stages):
        identity = dataset_identity(row.dataset, root, os.path.join(req.store.root, 'cache'))
    else:
        identity = ''
    hw = measuring_hw(row.dataset, base)
    measure = _measure_hashes(base.to_dict().get('model'), hw, identity, req)
    # what the training starts from: in every key that reads the training
    start = start_weights(row, base) if any(s not in MODEL_STAGES for s in stages) else {}
    # N processes train with a global batch of N x the config's: another result, another key
    suffix = f'-w{row.world_size}' if row.world_size > 1 else ''
    if req.train_compile:  # a labelled option (the official runs did not compile): readable in the key
        suffix += '-compile' + ('' if req.train_compile == 'inductor' else f'.{req.train_compile}')
    out = []
    for seed in seeds:
        train_cfg = apply_profile(base, req.profile, row.dataset, root, seed, builtin=is_builtin)
        if req.profile.pretrained:  # read the encoder weights from the weights folder only
            localise(train_cfg, req.weights_dir or default_weights_dir(req.store.root))
        if req.train_compile:  # the training stage compiles (umixformer.optimize.compile_for_training)
            train_cfg.train_compile = req.train_compile
        for name, value in start.items():
            train_cfg[name] = value
        train_hash = run_hash(train_cfg, identity)
        eval_cfg = apply_pipeline(train_cfg, row.pipeline)
        eval_hash = run_hash(eval_cfg, identity)
        for stage in (s for s in STAGES if s in stages):
            if stage in MODEL_STAGES:
                chash = measure[stage]
                key = run_key(stage, row.config, chash, 'model', None)
                if stage == 'latency':  # readable: a timing belongs to its settings (and declared device)
                    key += f'-{req.latency.suffix()}'
            else:
                chash = train_hash if stage == 'train' else eval_hash
                key = run_key(stage, row.config, chash, req.profile.name, seed) + suffix
                if stage == 'robustness' and req.robustness_protocol != 'segformer':
                    key += f'-{req.robustness_protocol}'
            need = STAGE_NEEDS.get(stage)
            out.append(Task(
                stage=stage, row=row, seed=seed if stage in SEEDED_STAGES else None, key=key, config_hash=chash,
                cfg=train_cfg if stage == 'train' else eval_cfg, base_cfg=base,  # latency: the test loader
                data_root=root if stage not in MODEL_STAGES or req.reads_data([stage]) else None,
                profile=req.profile.name, rows=[f'{row.table}/{row.id}'],
                needs=run_key(need, row.config, train_hash, req.profile.name, seed) + suffix if need else None,
                input_hw=hw, options=req.stage_options(stage)))
    return out


def plan(rows: Sequence[Row], stages: Optional[Iterable[str]], seeds: Optional[Sequence[int]],
         profile: Profile, data_roots: Dict[str, str], store: Store,
         latency: LatencyOptions = LatencyOptions(),
         robustness_protocol: str = 'segformer', weights_dir: Optional[str] = None,
         robustness_source: str = 'files', train_compile: str = '') -> List[Task]:
    """The tasks for these rows, deduplicated by record key, in execution order.

    A requested stage pulls in the stage it needs (test needs train). Training is
    keyed by the config with the official evaluation pipeline (validation does
    not change the weights), so a row evaluated with another pipeline shares it.
    ``train_compile``: a ``torch.compile`` backend to train with ('' trains as the
    official runs, uncompiled); in the config (``train_compile``), hence in every key
    that reads the training, and named there (``-compile``)."""
    if train_compile and train_compile not in COMPILE_BACKENDS:
        raise UsageError(f'unknown torch.compile backend {train_compile!r}; known: {", ".join(COMPILE_BACKENDS)}')
    if robustness_protocol not in ROBUSTNESS_PROTOCOLS:
        raise UsageError(f'unknown Cityscapes-C protocol {robustness_protocol!r}; known: '
                         f'{", ".join(ROBUSTNESS_PROTOCOLS)}')
    wanted = None if stages is None else set(stages)
    if wanted is not None and wanted - set(STAGES):
        raise UsageError(f'unknown stage(s) {sorted(wanted - set(STAGES))}; known: {", ".join(STAGES)}')
    req = _Request(profile, data_roots, store, latency, robustness_protocol, robustness_source, weights_dir,
                   train_compile)
    tasks: Dict[str, Task] = {}
    for row in rows:
        row_stages = _row_stages(row, wanted)
        if not row_stages:
            continue
        for task in _row_tasks(row, row_stages, row.seeds if seeds is None else seeds, req):
            if task.key in tasks:
                tasks[task.key].rows += [r for r in task.rows if r not in tasks[task.key].rows]
            else:
                tasks[task.key] = task
    # train first, then the stages reading it, then model-only measurements
    return sorted(tasks.values(), key=lambda t: STAGES.index(t.stage))
