"""What ``status`` says of each task: its record, the lease of the process computing it,
and the SLURM job that was queued for it (whichever backend the command names)."""
import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from experiments.backends.base import QUEUEING, backend_class
from experiments.core.metrics import CATALOGUE, fmt
from experiments.core.stages import stage_spec, stage_specs
from experiments.planning.commands import invalidate_command
from experiments.planning.tasks import Task
from experiments.registry.profiles import get_profile
from experiments.store import Record, Store, current
from experiments.store.lease import Lease



@dataclass
class TaskStatus:
    task: Task
    kind: str  # what is counted: the record's status, or 'missing'
    state: str  # what is shown
    job: str = ''
    result: str = ''
    log: str = ''  # absolute path, or ''
    hint: str = ''  # a command to copy, printed below the table
    record: Optional[Record] = None


def _running(rec: Record, lease: Lease) -> str:
    holder = lease.holder()
    if holder is None or lease.is_stale(holder):
        since = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder.heartbeat)) if holder else rec.started_at
        return f'stale (no heartbeat since {since}); a rerun takes it over'
    return f'running ({holder.describe()[len("being computed by "):]})'


def _shown(recs: Sequence[Record]) -> str:
    """The catalogue's metrics of their stage, by their names (those of the console comparison
    and the reports: params_m is the paper's count, params_effective_m the built one); over
    several records, the mean."""
    stage = recs[0].stage
    out = []
    for m in CATALOGUE.values():
        values = [r.metrics[m.field] for r in recs if m.field in r.metrics]
        if m.stage == stage and m.shown_in_status and values:
            out.append(f'{m.name}={fmt(sum(values) / len(values), m.digits)}')  # as the catalogue prints it
    return ', '.join(out)


def _result(rec: Record) -> str:
    if rec.status == 'done':
        text = _shown([rec])
        return text + (f' (resumed from {os.path.basename(rec.resumed_from)})' if rec.resumed_from else '')
    if rec.status in ('failed', 'interrupted', 'preempted') and rec.error:  # why it stopped
        line = rec.error.splitlines()[0][:120]
        return line if rec.status == 'failed' else f'{line}; the same run command resumes it'
    return ''


def task_status(task: Task, store: Store, job: dict, rerun: str) -> TaskStatus:
    """One task's state; ``rerun``: the command that recomputes what is missing."""
    rec = store.get(task.key)
    out = TaskStatus(task, rec.status if rec else 'missing', rec.status if rec else 'missing')
    if rec and rec.status == 'done' and not current(rec):  # an older computation's: not this suite's number
        out.kind = 'stale'
        out.state = (f'stale: computed by an older version (v{rec.version}; v{stage_spec(rec.stage).version} now); '
                     'a run computes it again')
    if rec and rec.status == 'running':
        out.state = _running(rec, Lease(store.root, task.key))
    if rec and rec.status == 'done' and any(s.needs == rec.stage for s in stage_specs()):  # others read its checkpoint
        ckpt = store.abs(rec.artifacts.get('checkpoint', ''))
        if not os.path.exists(ckpt) and not get_profile(task.profile).keep_checkpoints:
            out.state = f'done (its checkpoint removed once read: the {task.profile} profile keeps none)'
        elif not os.path.exists(ckpt):
            out.state = f'done, but its checkpoint {ckpt} is gone (see below)'
            out.hint = (f'{task.key}: its checkpoint is gone; to recompute it: '
                        f'{invalidate_command(task, store)} and then {rerun}')
    slurm_state = job.get('state') if job else None
    if slurm_state and slurm_state != 'COMPLETED':
        out.state = f'{out.state} (slurm: {slurm_state})' if rec else f'slurm: {slurm_state}'
    elif job and not slurm_state and not rec:  # SLURM forgot the job (MinJobAge) and it left no record
        out.state = (f'submitted as {job["job"]}, which SLURM no longer knows (ended before MinJobAge; no '
                     'accounting) and which wrote no record: it never started or was killed; see its log')
    out.job = job['job'] if job else ''
    out.result = _result(rec) if rec else ''
    out.record = rec
    log = job['log'] if job else (rec.log if rec and rec.log else '')
    out.log = store.abs(log) if log else ''
    return out


def task_statuses(tasks: List[Task], store: Store, rerun: str) -> List[TaskStatus]:
    """The state of every task, with what SLURM queued for them (submissions in the store)."""
    jobs: dict = {}
    for name in QUEUEING:  # what each backend that queues jobs queued
        jobs.update(backend_class(name).jobs(store, [t.key for t in tasks]))
    return [task_status(t, store, jobs.get(t.key), rerun) for t in tasks]


# the order a summary counts states in (others after them)
_ORDER = ('done', 'stale', 'running', 'interrupted', 'preempted', 'failed', 'missing')


def summary_state(group: Sequence[TaskStatus]) -> str:
    """Several tasks' states in one line: counts by state and the jobs queued for them (one
    task: its own state)."""
    if len(group) == 1:
        return group[0].state + (f' (job {group[0].job})' if group[0].job else '')
    counts: Dict[str, int] = {}
    for s in group:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    kinds = sorted(counts, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER))
    text = ', '.join(f'{counts[k]} {k}' for k in kinds)
    jobs = [s.job for s in group if s.job and s.kind != 'done']
    if jobs:
        text += f'; job{"s" if len(jobs) > 1 else ""} ' + ', '.join(jobs[:3]) + (', ...' if len(jobs) > 3 else '')
    return text


def stopped(s: TaskStatus) -> bool:
    """Whether it ended without a result (failed, interrupted, preempted)."""
    return s.kind not in ('done', 'stale', 'running', 'missing')


def summary_result(group: Sequence[TaskStatus]) -> str:
    """Several tasks' results in one line: the mean of the done ones' metrics, the first
    error of those that stopped (one task: its own result). Their logs are listed apart."""
    if len(group) == 1:
        return group[0].result
    done = [s.record for s in group if s.kind == 'done']
    parts = [f'{_shown(done)} (mean of {len(done)})'] if done and _shown(done) else []
    ended = [s for s in group if stopped(s) and s.result]
    if ended:
        parts.append(f'{len(ended)} stopped, the first {ended[0].kind}: {ended[0].result}')
    return '; '.join(parts)
