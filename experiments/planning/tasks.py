"""Planning: which stage of which row and seed computes which record.

``plan`` turns rows into tasks, each with its record key: a hash of everything the
number depends on (the resolved config with the data root replaced by the dataset's
identity, or, for the model-only stages, the model, the measuring input and how it is
counted or timed). Tasks with the same key are one task that several rows share."""
import copy
import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config

from experiments.core.errors import UsageError
from experiments.core.files import sha256_of
from experiments.core.keys import (KEY_VERSION, TRAINING_DRAWS, content_hash, content_text, run_key, text_hash,
                                   world_suffix)
from experiments.core.stages import stage_names, stage_spec
from experiments.data.datasets import builtin_identity, dataset_identity, resolve_root_path, synthetic_params
from experiments.data.pipelines import apply_pipeline
from experiments.planning.configs import load_base_config
from experiments.planning.options import check_settings, hashed_options, key_suffixes, option_table, stage_options
from experiments.planning.task import ReleasedWeights, Task
from experiments.registry.profiles import Profile, apply_profile
from experiments.registry.rows import Row
from experiments.registry.weights import checkpoint_refs, localise
from experiments.registry.weights import weights_dir as default_weights_dir
from experiments.store import Store
from umixformer_config.input_size import measuring_hw

__all__ = ['ReleasedWeights', 'Task', 'plan', 'run_hash', 'start_weights']


def run_text(cfg: Config, identity: str) -> str:
    """The canonical text of a resolved run config that its hash is made of, with the data
    root replaced by the dataset's identity (name + file fingerprint) so that moving the
    data keeps the key."""
    d = {k: v for k, v in cfg.to_dict().items() if k != 'work_dir'}
    for holder, key in checkpoint_refs(d):  # the weights folder may move too (configs alias dicts)
        holder[key] = os.path.basename(str(holder[key]))
    if d.get('load_from'):  # its content is in the key (load_from_sha256), its folder is not
        d['load_from'] = os.path.basename(str(d['load_from']))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if isinstance(d.get(loader), dict) and isinstance(d[loader].get('dataset'), dict):
            d[loader]['dataset']['data_root'] = identity
    return content_text({'config': d, 'key_version': KEY_VERSION, 'draws': TRAINING_DRAWS})


def run_hash(cfg: Config, identity: str) -> str:
    """Hash of a resolved run config (``run_text``)."""
    return text_hash(run_text(cfg, identity))


@dataclass(frozen=True)
class _Request:
    """What ``plan`` was asked besides the rows (one value per planning call)."""
    profile: Profile
    data_roots: Dict[str, str]
    store: Store
    weights_dir: Optional[str]
    settings: Mapping[str, Any]

    def options(self, stage: str) -> Dict[str, Any]:
        return stage_options(stage, self.settings)

    def reads_data(self, stages: Sequence[str]) -> bool:
        """Whether these stages read the dataset (the benchmark latency protocol does)."""
        return any(stage_spec(s).reads_dataset(self.options(s)) for s in stages)


def _row_stages(row: Row, wanted: Optional[set]) -> List[str]:
    """The row's stages that were asked for, with the stages they need."""
    out = [s for s in row.stages if wanted is None or s in wanted]
    for s in list(out):
        need = stage_spec(s).needs
        if need and need not in out and need in row.stages:
            out.append(need)
    return out


def _with_options(chash: str, stage: str, req: _Request) -> str:
    """A hash with the stage's hashed options (``in_key='hash'``) where any differs from its default."""
    extra = hashed_options(stage, req.settings)
    return content_hash({'hash': chash, 'options': extra}) if extra else chash


def _measure_hash(stage: str, model: dict, hw: Tuple[int, int], identity: str, req: _Request) -> str:
    """A model-only stage's hash: the model, the input size and how it is counted or timed
    (its spec's ``key_facts``); a timing not the planning machine's device (a login node
    plans what a GPU node times): a declared --latency-device only; the record states it."""
    spec = stage_spec(stage)
    facts = spec.key_facts(req.options(stage), identity) if spec.key_facts else {}
    return _with_options(content_hash({'model': model, 'input_hw': hw, 'key_version': KEY_VERSION, **facts}), stage,
                         req)


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


# a seed no config holds: a row's config is resolved once with it, and each seed is put in its
# place, in the config and in the hashed text (8,811 tasks of 400 seeds planned in seconds)
_SEED = '@@umix-planning-seed@@'


class _SeededConfigs:
    """A row's resolved training and evaluation configs and their hashes, per seed. Resolved
    once (profile, data root, weights folder, config options, start weights) where the seed
    is only ``randomness.seed`` and appears once in the hashed text; else per seed."""

    def __init__(self, row: Row, base: Config, req: _Request, root: str, is_builtin: bool, identity: str,
                 start: Mapping[str, str]) -> None:
        self.row, self.base, self.req, self.root, self.is_builtin = row, base, req, root, is_builtin
        self.identity, self.start = identity, start
        self.template = self._resolve(_SEED)
        self.texts = {kind: run_text(cfg, identity) for kind, cfg in zip(('training', 'evaluation'), self.template)}
        self.quoted = json.dumps(_SEED)
        self.once = (self.template[0].get('randomness') == {'seed': _SEED}
                     and all(t.count(self.quoted) == 1 for t in self.texts.values()))

    def _resolve(self, seed) -> Tuple[Config, Config]:
        req = self.req
        train_cfg = apply_profile(self.base, req.profile, self.row.dataset, self.root, seed, builtin=self.is_builtin)
        if req.profile.pretrained:  # read the encoder weights from the weights folder only
            localise(train_cfg, req.weights_dir or default_weights_dir(req.store.root))
        for opt in option_table():  # e.g. the training compiles (umixformer.optimize.compile_for_training)
            if opt.in_key == 'config' and req.settings.get(opt.name, opt.default) != opt.default:
                train_cfg[opt.config_key] = req.settings[opt.name]
        for name, value in self.start.items():
            train_cfg[name] = value
        return train_cfg, apply_pipeline(train_cfg, self.row.pipeline)

    def __call__(self, seed: int) -> Tuple[Config, Config, Dict[str, str]]:
        """(training config, evaluation config, config kind -> hash) of ``seed``."""
        if not self.once:
            train_cfg, eval_cfg = self._resolve(seed)
            return train_cfg, eval_cfg, {'training': run_hash(train_cfg, self.identity),
                                         'evaluation': run_hash(eval_cfg, self.identity)}
        train_t, eval_t = self.template
        train_cfg = copy.copy(train_t)  # the rest is shared: the job side copies a task's config whole
        train_cfg.randomness = dict(seed=seed)
        eval_cfg = train_cfg if eval_t is train_t else copy.copy(eval_t)
        if eval_cfg is not train_cfg:
            eval_cfg.randomness = dict(seed=seed)
        hashes = {kind: text_hash(text.replace(self.quoted, json.dumps(seed))) for kind, text in self.texts.items()}
        return train_cfg, eval_cfg, hashes


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
    model = base.to_dict().get('model')
    # a model-only stage's hash: the same for every seed
    measured = {s: _measure_hash(s, model, hw, identity, req) for s in stages if stage_spec(s).model_only}
    # what the training starts from: in every key that reads the training
    start = start_weights(row, base) if any(not stage_spec(s).model_only for s in stages) else {}
    seeded = _SeededConfigs(row, base, req, root, is_builtin, identity, start)
    ordered = [s for s in stage_names() if s in stages]
    options = {s: req.options(s) for s in ordered}
    runtime = {s: stage_options(s, req.settings, runtime=True) for s in ordered}
    suffixes = {s: key_suffixes(s, req.settings) for s in ordered}
    out = []
    # a row of model-only stages has one task per stage, whatever the seeds (the first seed's)
    for seed in seeds if any(stage_spec(s).seeded for s in ordered) else seeds[:1]:
        train_cfg, eval_cfg, hashes = seeded(seed)

        def trained_hash(stage: str) -> str:
            return _with_options(hashes[stage_spec(stage).config], stage, req)

        def trained_key(stage: str) -> str:
            """The key of a stage that reads the training: per profile and seed, its processes, its options."""
            spec = stage_spec(stage)
            return (run_key(stage, row.config, trained_hash(stage), req.profile.name, seed if spec.seeded else None)
                    + world_suffix(row.world_size) + suffixes[stage])
        for stage in ordered:
            spec = stage_spec(stage)
            if spec.model_only:
                chash = measured[stage]
                # readable: e.g. a timing belongs to its settings (and declared device)
                key = run_key(stage, row.config, chash, 'model', None) + (
                    spec.key_suffix(options[stage]) if spec.key_suffix else '') + suffixes[stage]
            else:
                chash, key = trained_hash(stage), trained_key(stage)
            out.append(Task(
                stage=stage, row=row, seed=seed if spec.seeded else None, key=key, config_hash=chash,
                cfg=train_cfg if spec.config == 'training' else eval_cfg, base_cfg=base,  # latency: the test loader
                data_root=root if spec.reads_dataset(options[stage]) else None,
                profile=req.profile.name, rows=[f'{row.table}/{row.id}'],
                needs=trained_key(spec.needs) if spec.needs else None, input_hw=hw, options=options[stage],
                runtime=runtime[stage]))
    return out


def plan(rows: Sequence[Row], stages: Optional[Iterable[str]], seeds: Optional[Sequence[int]],
         profile: Profile, data_roots: Dict[str, str], store: Store, weights_dir: Optional[str] = None,
         settings: Optional[Mapping[str, Any]] = None) -> List[Task]:
    """The tasks for these rows, deduplicated by record key, in execution order.

    A requested stage pulls in the stage it needs (test needs train). Training is
    keyed by the config with the official evaluation pipeline (validation does
    not change the weights), so a row evaluated with another pipeline shares it.
    ``settings``: option name -> value for options of the option table
    (``experiments.planning.options``) other than their defaults, e.g.
    ``{'train_compile': 'inductor'}``: in the config, hence in every key that reads the
    training, and named there (``-compile``)."""
    settings = dict(settings or {})
    check_settings(settings)
    wanted = None if stages is None else set(stages)
    if wanted is not None and wanted - set(stage_names()):
        raise UsageError(f'unknown stage(s) {sorted(wanted - set(stage_names()))}; known: {", ".join(stage_names())}')
    req = _Request(profile, data_roots, store, weights_dir, settings)
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
    # in the stages' order: a stage after the one it needs
    return sorted(tasks.values(), key=lambda t: stage_names().index(t.stage))
