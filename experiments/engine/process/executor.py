"""Runs one task and records its result (shared by every backend)."""
import contextlib
import copy
import dataclasses
import os
import sys
import time
import traceback
from typing import Dict, Optional, Tuple

from experiments.core.console import capture_output
from experiments.core.errors import StageError
from experiments.core import device
from experiments.core.provenance import config_lines, git_revision, now, package_versions
from experiments.core.signals import Preempted
from experiments.core.stages import stage_spec
from experiments.data.check import Verification, prepare_root, walk
from experiments.data.datasets import dataset_identity
from experiments.engine.plugins.allocator import collections_bounded
from experiments.registry.recipe import read_recipe
from experiments.registry.schema import SUITE_DIR
from experiments.planning.tasks import Task
from experiments.store import DONE, FAILED, INTERRUPTED, PREEMPTED, RUNNING, Record, Store, current
from experiments.store.lease import Holder, Lease

REPO = os.path.dirname(SUITE_DIR)  # the checkout: its git revision, and what a record's config path is relative to


def new_record(task: Task, status: str, command: str, store: Optional[Store] = None) -> Record:
    return Record(key=task.key, stage=task.stage, status=status, config=os.path.relpath(task.row.config, REPO),
                  config_hash=task.config_hash, profile=task.profile, seed=task.seed,
                  dataset=task.row.dataset, rows=list(task.rows), git_revision=git_revision(REPO),
                  packages=package_versions(), device=device.device_name(), command=command,
                  started_at=now(), settings=task_settings(task), version=stage_spec(task.stage).version,
                  recipe=task_recipe(task, store))


def task_recipe(task: Task, store: Optional[Store]) -> Dict[str, object]:
    """How the task's numbers were made (``experiments.registry.recipe``): the facts of its
    resolved config, its processes and global batch, and the data it read (built-in or not,
    image/label pairs per split, the fingerprint of the file list)."""
    kinds = stage_spec(task.stage).depends_on()
    out: Dict[str, object] = read_recipe(task.cfg, kinds)
    if 'training' in kinds:
        out['processes'] = task.row.world_size
        out['global_batch'] = task.row.world_size * int(task.cfg.train_dataloader.batch_size)
    if kinds and task.data_root and os.path.isdir(task.data_root):
        _, listing = walk(task.row.dataset, task.data_root)
        out['data'] = dict(builtin=bool(store and store.is_builtin_root(task.data_root)), root=task.data_root,
                           pairs={split: len(set(images) & set(labels)) for split, (images, labels) in listing.items()},
                           # the key's dataset identity (names and sizes, cached): a copy or a second
                           # generation of the same data is the same data
                           fingerprint=dataset_identity(task.row.dataset, task.data_root,
                                                        os.path.join(store.root, 'cache') if store else None))
    return out


def task_settings(task: Task) -> Dict[str, object]:
    """What the task's result depends on beyond its config, for the record."""
    out: Dict[str, object] = dict(task.options)
    if task.released is not None:
        out.update(task.released.settings())
    if stage_spec(task.stage).evaluates:
        out['pipeline'] = task.row.pipeline
    if stage_spec(task.stage).config == 'training':
        out['world_size'] = task.row.world_size
        out['global_batch'] = task.row.world_size * int(task.cfg.train_dataloader.batch_size)
    return out


def prepare_data(tasks, store: Store, workers: int = 1) -> Dict[str, Verification]:
    """Checks (or generates, for the built-in data) every data root the tasks
    read, before anything runs, file by file (cached per file list). Raises
    DatasetRootError naming the problem."""
    seen = {}
    for t in tasks:
        if t.data_root is None or t.data_root in seen:
            continue
        seen[t.data_root] = prepare_root(t.row.dataset, t.data_root, store.is_builtin_root(t.data_root),
                                         os.path.join(store.root, 'cache'), workers)
    return seen


class LeaseHeld(RuntimeError):
    """Another process is computing this record."""

    def __init__(self, key: str, holder: Holder) -> None:
        super().__init__(f'{key}: {holder.describe()}')
        self.holder = holder


def run_task(task: Task, store: Store, command: str, again: bool = False) -> Record:
    """Computes the task's record unless it is done (``again``: even then, the done record
    retired); failures are recorded.

    The record's lease is taken first: if another process holds it, LeaseHeld is raised
    (the local backend's --wait waits for that process and reads its result)."""
    existing = store.get(task.key)
    if existing is not None and current(existing) and not again:
        return existing
    # in a multi-process (srun) run only rank 0 keeps the books
    writer = int(os.environ.get('SLURM_PROCID', '0')) == 0 or os.environ.get('UMIX_LAUNCHER') != 'slurm'
    if not writer:
        return _compute(task, store, command, lambda rec: None)
    lease = Lease(store.root, task.key)
    holder = lease.acquire()
    if holder is not None:
        raise LeaseHeld(task.key, holder)
    try:
        existing = store.get(task.key)  # finished by the previous holder meanwhile?
        if existing is not None and current(existing) and not again:
            return existing
        if existing is not None and existing.status == DONE:  # stale: an older computation's, kept aside
            store.retire(task.key)
        return _compute(task, store, command, store.put)
    finally:
        lease.release()


def run_resuming(task: Task, store: Store, command: str, max_stops: int) -> Tuple[Record, int]:
    """Runs the task in this process and resumes it after each preemption, as a requeued
    job would (checks and tests of preemption). Returns (record, preemptions); more than
    ``max_stops`` preemptions (the resume started over) raise RuntimeError."""
    stops = 0
    while True:
        try:
            return run_task(task, store, command), stops
        except Preempted:
            stops += 1
            if stops > max_stops:
                raise RuntimeError(f'{task.key}: preempted {stops} times, expected at most {max_stops}: the resume '
                                   'started over') from None


def stage_runner(stage: str):
    """The computation a stage's spec names (``StageSpec.compute``), imported now."""
    spec = stage_spec(stage)
    try:
        return spec.computation()
    except (ImportError, AttributeError) as err:
        raise StageError(f'stage {stage!r}: its computation {spec.compute!r} does not import '
                         f'({type(err).__name__}: {err})') from err


def task_log(task: Task, store: Store) -> str:
    """Where the task's full output goes: the SLURM log, else run.log in its run folder."""
    return os.environ.get('UMIX_TASK_LOG') or os.path.join(store.work_dir(task.key), 'run.log')


def _compute(task: Task, store: Store, command: str, put) -> Record:
    record = new_record(task, RUNNING, command, store)
    kept = {'resolved_config': store.keep_config(
        config_lines({k: v for k, v in task.cfg.to_dict().items() if k != 'work_dir'}))}
    record.artifacts = dict(kept)
    log = task_log(task, store)
    record.log = store.rel(log)
    put(record)
    t0 = time.monotonic()
    # mmengine/mmseg output goes to the log, not the console (a SLURM task's output is its log)
    quiet = not task.runtime.get('verbose') and not os.environ.get('UMIX_TASK_LOG')
    try:
        with capture_output(log) if quiet else contextlib.nullcontext():
            # its own copy of the config: planning shares a row's config between its seeds' tasks
            own = dataclasses.replace(task, cfg=copy.deepcopy(task.cfg))
            compute = stage_runner(task.stage)
            with collections_bounded():  # no full gc.collect() per dataset mmengine builds
                metrics, artifacts, resumed = compute(own, store)
        record.status, record.metrics, record.resumed_from = DONE, metrics, resumed
        record.artifacts = {**artifacts, **kept}
    except (KeyboardInterrupt, Preempted) as err:
        if isinstance(err, KeyboardInterrupt):
            record.status = INTERRUPTED
            record.error = f'interrupted by {getattr(err, "signal_name", "SIGINT")}'
        else:
            record.status, record.error = PREEMPTED, f'preempted after saving {err}'
        record.wall_time_s, record.finished_at = time.monotonic() - t0, now()
        put(record)
        raise
    except Exception as err:  # recorded, and the run goes on with other tasks
        record.status = FAILED
        record.error = f'{type(err).__name__}: {err}\n' + traceback.format_exc(limit=8)
        if quiet:  # the traceback belongs in the task's log
            with open(log, 'a') as f:
                f.write(traceback.format_exc())
        else:  # the console is the log (SLURM, --verbose)
            print(f'[{task.key}] failed: {type(err).__name__}: {err}\n{traceback.format_exc()}', file=sys.stderr)
    record.wall_time_s = time.monotonic() - t0
    record.finished_at = now()
    put(record)
    return record
