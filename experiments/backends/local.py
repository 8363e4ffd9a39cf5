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
    console = console or Console()
    results: Dict[str, Optional[Record]] = {}
    failed, busy = set(), set()
    n = len(tasks)
    done_at_start = {t.key for t in tasks if store.is_done(t.key)}
    for i, task in enumerate(tasks, 1):
        head = f'[{i}/{n}] {task.label}'
        rec = store.get(task.key)
        if rec is not None and current(rec):
            results[task.key] = rec
            if task.key not in done_at_start:  # counted as "to run" in the header
                console.print(f'[green]done[/]  {head}: {summary(rec.metrics)}, computed meanwhile by another process '
                              f'-> {os.path.relpath(store.path(rec.key), store.root)}', highlight=False, soft_wrap=True)
            continue
        if task.needs in busy:
            console.print(f'[yellow]skip[/] {head}: its input {task.needs} is being computed by another process '
                          '(--wait waits for it)')
            busy.add(task.key)
            results[task.key] = None
            continue
        if task.needs in failed or (task.needs and not store.is_done(task.needs)):
            console.print(f'[yellow]skip[/] {head}: its input {task.needs} did not finish')
            failed.add(task.key)
            results[task.key] = None
            continue
        console.print(f'[bold]start[/] {head}', highlight=False)
        progress = Progress(console, task.label)
        t0 = time.monotonic()
        try:
            with reporting(progress):
                rec = _run_or_wait(task, store, command_for(task), wait, console, head)
        except LeaseHeld as err:
            console.print(f'[yellow]skip[/] {head}: {err.holder.describe()}')
            busy.add(task.key)
            results[task.key] = None
            continue
        finally:
            progress.close()
        results[task.key] = rec
        took = time.monotonic() - t0
        if isinstance(rec, Waited):  # another process computed it: its result, not this run's
            console.print(f'[green]done[/]  {head}: {summary(rec.record.metrics)}, computed by the process it '
                          f'waited for (waited {took:.1f} s) -> {os.path.relpath(store.path(task.key), store.root)}',
                          highlight=False, soft_wrap=True)
            results[task.key] = rec.record
            continue
        if rec.status == DONE:
            # the record relative to the store (named in the header line); one line, never wrapped
            record = os.path.relpath(store.path(rec.key), store.root)
            console.print(f'[green]done[/]  {head}: {summary(rec.metrics)} ({took:.1f} s) -> {record}',
                          highlight=False, soft_wrap=True)
            start = rec.metrics.get('load_from') or {}
            if start.get('other_shape'):  # a fine-tuning to another class count: said, not only recorded
                console.print(f'  note: it started from {start["file"]} ({start["loaded"]} of {start["of"]} tensors); '
                              f'{", ".join(start["other_shape"])} of another shape trained from initial values',
                              highlight=False, soft_wrap=True)
        else:
            failed.add(task.key)
            log = store.abs(rec.log)
            lines = [l for l in rec.error.splitlines() if l.strip()]
            console.print(f'[red]failed[/] {head} after {took:.1f} s: {lines[-1] if lines else rec.status}\n'
                          f'  log: {log}\n  last lines of the log:', highlight=False)
            console.print(tail(log, 20).rstrip('\n'), markup=False, highlight=False)
            console.print(f'  inspect: {status}\n  rerun (done tasks are skipped): {rerun}', highlight=False)
    return results, busy


# seconds between looks at a lease another process holds (--wait)
POLL_S = 5.0


@dataclass(frozen=True)
class Waited:
    """A task another process computed while this one waited for it (--wait)."""
    record: Record


def _run_or_wait(task: Task, store: Store, command: str, wait: bool, console, head: str):
    """The task's record, computed here; with ``wait``, a task another process holds is
    waited for (said once, with who holds it): its record if that process finished it
    (``Waited``), else computed here (the holder failed or died)."""
    while True:
        try:
            return run_task(task, store, command)
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
