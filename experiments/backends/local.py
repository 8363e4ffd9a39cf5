"""The local backend: runs the planned tasks one after another on this machine."""
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Set, Tuple

from rich.console import Console

from experiments.backends.base import Backend, BackendError
from experiments.core.console import Progress, reporting, tail, terminal_console
from experiments.core.device import available_cpus, device_details
from experiments.core.stages import stage_spec
from experiments.core.metrics import summary
from experiments.data.cityscapes_c import generate
from experiments.engine.process.executor import LeaseHeld, run_task
from experiments.planning.tasks import Task
from experiments.registry.profiles import get_profile
from experiments.store import DONE, Record, Store, current
from experiments.store.lease import Lease


def run_local(tasks: List[Task], store: Store, command_for: Callable[[Task], str],
              console=None, wait: bool = False, rerun: str = '', status: str = '') -> Tuple[Dict[str, Optional[Record]], Set[str]]:
    """Runs what is not done; a task whose input failed is skipped, one that
    another process is computing (its lease is held) too, unless ``wait``.
    Per task: one start line (and one when it waits, ``wait``), progress
    (experiments.core.console), one end line with the key metric and the record, or on
    failure one screen: the error, the log, its last 20 lines, and the commands to inspect
    and rerun. Returns the record (None for a
    skipped task) of every task by key, and the keys another process holds."""
    read_once = CheckpointsReadOnce(tasks, store)
    tasks = read_once.order(tasks)
    run = _LocalRun(store, command_for, console or Console(), wait, rerun, status, tasks, read_once)
    n = len(tasks)
    for i, task in enumerate(tasks, 1):
        try:
            run.one(task, f'[{i}/{n}] {task.label}')
        finally:  # an interrupted task is not counted as read
            run.read_once.finished(task, run.results, run.busy)
    run.read_once.say(run.console)
    return run.results, run.busy


class _LocalRun:
    """The books of one ``run_local``: the records by key, the keys that failed or that
    another process holds, what was done when it started."""

    def __init__(self, store: Store, command_for: Callable[[Task], str], console, wait: bool, rerun: str,
                 status: str, tasks: List[Task], read_once: 'CheckpointsReadOnce') -> None:
        self.store, self.command_for, self.console = store, command_for, console
        self.wait, self.rerun, self.status = wait, rerun, status
        self.results: Dict[str, Optional[Record]] = {}
        self.failed: Set[str] = set()
        self.busy: Set[str] = set()
        self.done_at_start = {t.key for t in tasks if store.is_done(t.key)}
        self.read_once = read_once

    def one(self, task: Task, head: str) -> None:
        rec = self.store.get(task.key)
        done = rec is not None and current(rec)
        again = done and self.read_once.needs_again(task, rec)
        if done and not again:
            self.results[task.key] = rec
            if task.key not in self.done_at_start:  # counted as "to run" in the header
                self.console.print(f'[green]done[/]  {head}: {summary(rec.metrics)}, computed meanwhile by another process '
                                   f'-> {os.path.relpath(self.store.path(rec.key), self.store.root)}', highlight=False, soft_wrap=True)
            return
        if task.needs in self.busy:
            self.console.print(f'[yellow]skip[/] {head}: its input {task.needs} is being computed by another process '
                               '(--wait waits for it)')
            self.busy.add(task.key)
            self.results[task.key] = None
            return
        if task.needs in self.failed or (task.needs and not self.store.is_done(task.needs)):
            self.console.print(f'[yellow]skip[/] {head}: its input {task.needs} did not finish')
            self.failed.add(task.key)
            self.results[task.key] = None
            return
        self.console.print(f'[bold]start[/] {head}' + (f': again, as the {task.profile} profile removed its checkpoint '
                                                        'once an earlier run had read it' if again else ''),
                           highlight=False, soft_wrap=True)
        progress = Progress(self.console, task.label)
        t0 = time.monotonic()
        try:
            with reporting(progress):
                rec = _run_or_wait(task, self.store, self.command_for(task), self.wait, self.console, head, again)
        except LeaseHeld as err:
            self.console.print(f'[yellow]skip[/] {head}: {err.holder.describe()}')
            self.busy.add(task.key)
            self.results[task.key] = None
            return
        finally:
            progress.close()
        self.results[task.key] = rec
        took = time.monotonic() - t0
        if isinstance(rec, Waited):  # another process computed it: its result, not this run's
            self.console.print(f'[green]done[/]  {head}: {summary(rec.record.metrics)}, computed by the process it '
                               f'waited for (waited {took:.1f} s) -> {os.path.relpath(self.store.path(task.key), self.store.root)}',
                          highlight=False, soft_wrap=True)
            self.results[task.key] = rec.record
            return
        if rec.status == DONE:
            # the record relative to the store (named in the header line); one line, never wrapped
            record = os.path.relpath(self.store.path(rec.key), self.store.root)
            self.console.print(f'[green]done[/]  {head}: {summary(rec.metrics)} ({took:.1f} s) -> {record}',
                               highlight=False, soft_wrap=True)
            start = rec.metrics.get('load_from') or {}
            if start.get('other_shape'):  # a fine-tuning to another class count: said, not only recorded
                self.console.print(f'  note: it started from {start["file"]} ({start["loaded"]} of {start["of"]} tensors); '
                                   f'{", ".join(start["other_shape"])} of another shape trained from initial values',
                              highlight=False, soft_wrap=True)
        else:
            self.failed.add(task.key)
            log = self.store.abs(rec.log)
            lines = [l for l in rec.error.splitlines() if l.strip()]
            self.console.print(f'[red]failed[/] {head} after {took:.1f} s: {lines[-1] if lines else rec.status}\n'
                               f'  log: {log}\n  last lines of the log:', highlight=False)
            self.console.print(tail(log, 20).rstrip('\n'), markup=False, highlight=False)
            self.console.print(f'  inspect: {self.status}\n  rerun (done tasks are skipped): {self.rerun}', highlight=False)


class CheckpointsReadOnce:
    """The checkpoints of a profile that keeps none (``Profile.keep_checkpoints``): each
    training's is removed once every task of this run that reads it has finished, and a
    training whose checkpoint is gone is computed again when a task of the run reads it."""

    def __init__(self, tasks: List[Task], store: Store) -> None:
        self.store = store
        self.readers: Dict[str, Set[str]] = {}  # training key -> the keys of this run's tasks that read it
        for t in tasks:
            if t.needs and not get_profile(t.profile).keep_checkpoints:
                self.readers.setdefault(t.needs, set()).add(t.key)
        self.removed: List[int] = []  # the bytes of each removed checkpoint
        self.folders = {store.work_dir(t.key) for t in tasks}

    def order(self, tasks: List[Task]) -> List[Task]:
        """The tasks with the readers of such a training right after it, where the training
        is one of them (a stable reorder): one checkpoint on disk at a time, not every row's (a
        check of Table 1's 28 trainings held 1.5 GB of weights before its first test)."""
        if not self.readers:
            return tasks
        keys = {t.key for t in tasks}
        after: Dict[str, List[Task]] = {}  # training key -> its readers, in the tasks' order
        for t in tasks:
            if t.needs in self.readers and t.needs in keys:
                after.setdefault(t.needs, []).append(t)
        moved = {r.key for group in after.values() for r in group}
        out: List[Task] = []
        for t in tasks:
            if t.key not in moved:
                out += [t] + after.get(t.key, [])
        return out

    def needs_again(self, task: Task, rec: Record) -> bool:
        """Whether a done training is computed again: its checkpoint was removed and a task of
        this run that is not done reads it."""
        ckpt = rec.artifacts.get('checkpoint')
        return (task.key in self.readers and bool(ckpt) and not os.path.exists(self.store.abs(ckpt))
                and not all(self.store.is_done(k) for k in self.readers[task.key]))

    def finished(self, task: Task, results: Dict[str, Optional[Record]], busy: Set[str]) -> None:
        """Removes the checkpoints of ``task``'s training once its last reader here finished
        (not while another process computes one of them)."""
        readers = self.readers.get(task.needs or '')
        if not readers or any(k not in results or k in busy for k in readers):
            return
        del self.readers[task.needs]
        train = self.store.get(task.needs)
        if train is None or train.status != DONE:
            return
        work = self.store.abs(train.artifacts.get('work_dir', ''))
        for name in sorted(os.listdir(work)) if os.path.isdir(work) else ():
            if name.endswith('.pth'):
                path = os.path.join(work, name)
                self.removed.append(os.path.getsize(path))
                os.remove(path)

    def say(self, console) -> None:
        """What the run removed and what its folders hold now."""
        if not self.removed:
            return
        left = sum(os.path.getsize(os.path.join(d, f)) for top in self.folders if os.path.isdir(top)
                   for d, _, files in os.walk(top) for f in files)
        console.print(f'removed {len(self.removed)} checkpoint(s) once read ({_size(sum(self.removed))}); '
                      f'this run\'s folders hold {_size(left)} under {os.path.join(self.store.root, "work")}',
                      highlight=False, soft_wrap=True)


def _size(n: int) -> str:
    return f'{n / 1e9:.1f} GB' if n >= 1e9 else f'{n / 1e6:.0f} MB' if n >= 1e6 else f'{n / 1e3:.0f} kB'


# seconds between looks at a lease another process holds (--wait)
POLL_S = 5.0


@dataclass(frozen=True)
class Waited:
    """A task another process computed while this one waited for it (--wait)."""
    record: Record


def _run_or_wait(task: Task, store: Store, command: str, wait: bool, console, head: str, again: bool = False):
    """The task's record, computed here; with ``wait``, a task another process holds is
    waited for (said once, with who holds it): its record if that process finished it
    (``Waited``), else computed here (the holder failed or died)."""
    while True:
        try:
            return run_task(task, store, command, again)
        except LeaseHeld as err:
            if not wait:
                raise
            console.print(f'[yellow]wait[/]  {head}: {err.holder.describe()}; waiting for it (--wait)',
                          highlight=False, soft_wrap=True)
            lease = Lease(store.root, task.key)
            while (cur := lease.holder()) is not None and not lease.is_stale(cur):
                time.sleep(POLL_S)
            rec = store.get(task.key)
            if rec is not None and current(rec):
                return Waited(rec)


class LocalBackend(Backend):
    """One task after another in this process; failures are reported and the run
    goes on with the tasks that do not need them."""

    name = 'local'

    def run(self, table, tasks: List[Task], store: Store, console, report: Callable[[], None]) -> int:
        multi = sorted({f'{t.row.table}/{t.row.id} ({t.row.world_size} processes)' for t in tasks
                        if stage_spec(t.stage).processes(t.row.world_size) > 1 and not store.is_done(t.key)})
        if multi:  # one process would train with 1/N of the global batch: another experiment
            raise BackendError(f'{", ".join(multi)}: trains as several processes (global batch = gpus x the '
                               'config\'s batch); the local backend runs one process. Run it with --backend slurm '
                               '(srun, one process per GPU), or drop those rows (--rows)')
        rerun = self.options.rerun
        console = terminal_console()
        results, busy = run_local(tasks, store, self.command_for, console, wait=self.options.wait,
                                    rerun=rerun, status=self.options.status)
        report()
        failed = [k for k, r in results.items() if k not in busy and (r is None or r.status != 'done')]
        if busy:
            console.print(f'[yellow]{len(busy)} task(s) left to the process(es) computing them[/]: ' +
                          ', '.join(sorted(busy)))
        if failed:
            console.print(f'[red]{len(failed)} task(s) did not finish[/]: ' + ', '.join(failed) +
                          f'\ninspect: {self.options.status}\nrunning the same command again re-runs exactly those: '
                          f'{rerun}', highlight=False)
            return 1
        return 0

    def gpu_memory_gb(self, stage: str) -> Optional[float]:
        return device_details().get('gpu_memory_gb')  # this node's first GPU, where there is one

    def cityscapes_c(self, source, out, corruptions, store, protocol, console) -> int:
        workers = self.options.workers or available_cpus()
        console.print(f'writing Cityscapes-C ({len(corruptions)} corruptions x 5 severities) to {out} '
                      f'with {workers} process(es); finished images are kept')
        stats = generate(source, out, corruptions, workers=workers, protocol=protocol)
        console.print(f'{stats["images"]} validation images, {stats["written"]} corrupted images written in '
                      f'{stats["seconds"]:.1f} s ({stats["images_per_second"]:.2f} images/s)')
        return 0
