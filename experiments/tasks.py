"""Planning: which stage of which row and seed computes which record."""
import hashlib
import json
import os
import shlex
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

from mmengine.config import Config

from .datasets import resolve_root_path
from .latency import device_slug
from .profiles import Profile, apply_profile
from .registry import STAGE_NEEDS, STAGES, Row, Table
from .store import SEEDED_STAGES, Store, run_key

# stages that measure the model itself: independent of profile, data and seed
MODEL_STAGES = ('complexity', 'latency')


def _hash(obj) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def load_base_config(path: str) -> Config:
    from umixformer.complexity import load_config
    return load_config(path)


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

    @property
    def label(self) -> str:
        seed = f' seed {self.seed}' if self.seed is not None else ''
        return f'{self.stage:<10} {self.row.table}/{self.row.id}{seed}'


def reproduce_command(task: 'Task', data_roots: Dict[str, str]) -> str:
    """The command that computes exactly this task's record."""
    parts = ['run-experiment', task.row.table, '--rows', task.row.id, '--stages', task.stage,
             '--profile', task.profile]
    if task.seed is not None:
        parts += ['--seeds', str(task.seed)]
    opts = task.options
    if opts.get('precision', 'fp32') != 'fp32':
        parts += ['--precision', opts['precision']]
    parts += [f'--{flag.replace("_", "-")}' for flag in ('optimize', 'channels_last', 'compile') if opts.get(flag)]
    for ds, root in sorted(data_roots.items()):
        parts += ['--data-root', f'{ds}={root}']
    return shlex.join(parts)


@dataclass(frozen=True)
class LatencyOptions:
    precision: str = 'fp32'
    optimize: bool = False  # SDPA + projected-first fuse (same function)
    channels_last: bool = False
    compile: bool = False

    def suffix(self) -> str:
        return '-'.join([self.precision] + [n for n, on in (('opt', self.optimize), ('cl', self.channels_last),
                                                            ('compile', self.compile)) if on])


def plan(table: Table, rows: Sequence[Row], stages: Optional[Iterable[str]], seeds: Optional[Sequence[int]],
         profile: Profile, data_roots: Dict[str, str], store: Store,
         latency: LatencyOptions = LatencyOptions()) -> List[Task]:
    """The tasks for these rows, deduplicated by record key, in execution order.

    A requested stage pulls in the stage it needs (test needs train)."""
    wanted = None if stages is None else set(stages)
    if wanted is not None:
        bad = wanted - set(STAGES)
        if bad:
            raise ValueError(f'unknown stage(s) {sorted(bad)}; known: {", ".join(STAGES)}')
    builtin = os.path.join(store.root, 'data') if profile.builtin_data else None
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
        model_hash = _hash(base.to_dict().get('model'))
        for seed in (row.seeds if seeds is None else seeds):
            cfg = apply_profile(base, profile, row.dataset, root, seed)
            run_hash = _hash({k: v for k, v in cfg.to_dict().items() if k != 'work_dir'})
            for stage in STAGES:
                if stage not in row_stages:
                    continue
                if stage in MODEL_STAGES:
                    key = run_key(stage, row.config, model_hash, 'model', None)
                    if stage == 'latency':  # a timing belongs to its device and settings
                        key += f'-{device_slug()}-{latency.suffix()}'
                    chash = model_hash
                else:
                    key = run_key(stage, row.config, run_hash, profile.name, seed)
                    chash = run_hash
                need = STAGE_NEEDS.get(stage)
                need_key = run_key(need, row.config, run_hash, profile.name, seed) if need else None
                ref = f'{row.table}/{row.id}'
                if key in tasks:
                    if ref not in tasks[key].rows:
                        tasks[key].rows.append(ref)
                    continue
                tasks[key] = Task(stage=stage, row=row,
                                  seed=seed if stage in SEEDED_STAGES else None, key=key,
                                  config_hash=chash, cfg=cfg, base_cfg=base,
                                  data_root=None if stage in MODEL_STAGES else root,
                                  profile=profile.name, rows=[ref], needs=need_key,
                                  options=dict(vars(latency)) if stage == 'latency' else {})
                order.append(key)
    # train first, then the stages reading it, then model-only measurements
    return sorted((tasks[k] for k in order), key=lambda t: STAGES.index(t.stage))
