"""Runs one task and records its result (shared by every backend)."""
import os
import sys
import time
import traceback
from typing import Dict

from .datasets import prepare_root
from .hooks import Preempted
from .stages import STAGE_FUNCS
from .store import DONE, FAILED, PREEMPTED, RUNNING, Record, Store, device_name, git_revision, now, package_versions
from .tasks import MODEL_STAGES, Task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def new_record(task: Task, status: str, command: str) -> Record:
    return Record(key=task.key, stage=task.stage, status=status, config=os.path.relpath(task.row.config, REPO),
                  config_hash=task.config_hash, profile=task.profile, seed=task.seed,
                  dataset=task.row.dataset, rows=list(task.rows), git_revision=git_revision(REPO),
                  packages=package_versions(), device=device_name(), command=command,
                  started_at=now())


def prepare_data(tasks, store: Store) -> Dict[str, Dict[str, int]]:
    """Checks (or generates, for the built-in data) every data root the tasks
    read, before anything runs. Raises DatasetRootError naming the problem."""
    seen = {}
    for t in tasks:
        if t.stage in MODEL_STAGES or t.data_root is None or t.data_root in seen:
            continue
        builtin = os.path.dirname(t.data_root) == os.path.join(store.root, 'data')
        seen[t.data_root] = prepare_root(t.row.dataset, t.data_root, builtin)
    return seen


def run_task(task: Task, store: Store, command: str) -> Record:
    """Computes the task's record unless it is done; failures are recorded."""
    existing = store.get(task.key)
    if existing is not None and existing.status == DONE:
        return existing
    # in a multi-process (srun) run only rank 0 keeps the books
    writer = int(os.environ.get('SLURM_PROCID', '0')) == 0 or os.environ.get('UMIX_LAUNCHER') != 'slurm'
    put = store.put if writer else (lambda rec: None)
    record = new_record(task, RUNNING, command)
    record.log = os.environ.get('UMIX_TASK_LOG') or store.work_dir(task.key)
    put(record)
    t0 = time.monotonic()
    try:
        metrics, artifacts, resumed = STAGE_FUNCS[task.stage](task, store)
        record.status, record.metrics, record.artifacts, record.resumed_from = DONE, metrics, artifacts, resumed
    except (KeyboardInterrupt, Preempted) as err:
        record.status = FAILED if isinstance(err, KeyboardInterrupt) else PREEMPTED
        record.error = 'interrupted' if isinstance(err, KeyboardInterrupt) else f'preempted after saving {err}'
        record.wall_time_s, record.finished_at = time.monotonic() - t0, now()
        put(record)
        raise
    except Exception as err:  # recorded, and the run goes on with other tasks
        record.status = FAILED
        record.error = f'{type(err).__name__}: {err}\n' + traceback.format_exc(limit=8)
        print(f'[{task.key}] failed: {type(err).__name__}: {err}', file=sys.stderr)
    record.wall_time_s = time.monotonic() - t0
    record.finished_at = now()
    put(record)
    return record
