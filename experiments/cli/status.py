"""status, invalidate: the state of a table's records; setting records aside on purpose."""
import argparse
import os
from typing import Dict

from rich.table import Table as RTable

from experiments.backends.status import task_statuses
from experiments.cli.parser import command_line
from experiments.cli.plan import seed_text
from experiments.cli.selection import select_tasks
from experiments.core.errors import UsageError
from experiments.planning.select import computed_from
from experiments.store.lease import Lease


def cmd_status(args, console) -> int:
    table, profile, rows, store, tasks = select_tasks(args)
    t = RTable(title=f'status: {table.name}, profile {profile.name}')
    for col in ('row(s)', 'stage', 'seed', 'state', 'job', 'result') + (('log / record', ) if args.paths else ()):
        t.add_column(col, overflow='fold')
    counts: Dict[str, int] = {}
    statuses = task_statuses(tasks, store, command_line('run', args))
    for s in statuses:
        counts[s.kind] = counts.get(s.kind, 0) + 1
        result = s.result
        if s.log and not args.paths and s.kind not in ('done', 'running', 'missing'):
            result += f' (log {s.log})'  # where to look, for what went wrong
        task = s.task
        rows = task.rows if args.paths else [task.rows[0] + (f' (+{len(task.rows) - 1})' if len(task.rows) > 1 else '')]
        t.add_row('\n'.join(rows), task.stage, seed_text(task.seed), s.state, s.job, result,
                  *((s.log + '\n' + store.path(task.key), ) if args.paths else ()))
    console.print(t)
    console.print(f'{len(tasks)} tasks: ' + ', '.join(f'{n} {k}' for k, n in sorted(counts.items())) +
                  ('' if args.paths else ' (--paths: each task\'s log and record file)'), highlight=False)
    for s in statuses:  # below the table, unwrapped, so that they can be copied
        if s.hint:
            console.print(s.hint, highlight=False, soft_wrap=True)
    for path, dest, why in store.moved:
        console.print(f'[yellow]damaged record[/] {path} ({why}) moved to {dest}')
    damaged = store.damaged()
    if damaged:
        console.print(f'{len(damaged)} damaged record file(s) kept under {os.path.join(store.root, "records", "damaged")}')
    return 0


def cmd_invalidate(args, console) -> int:
    """Moves the named records (and those computed from them) to records/history/,
    so that the next run recomputes them on purpose. Nothing is deleted."""
    if not args.rows or not args.stages:
        raise UsageError('invalidate needs --rows and --stages (what to recompute, named explicitly)')
    table, profile, rows, store, tasks = select_tasks(args)
    everything = select_tasks(argparse.Namespace(**{**vars(args), 'stages': None})).tasks
    keys = [t.key for t in tasks if t.stage in args.stages]
    todo = computed_from(keys, everything)
    for key in todo:  # never pull a run folder from under a process computing it
        lease = Lease(store.root, key)
        holder = lease.holder()
        if holder is not None and not lease.is_stale(holder):
            raise UsageError(f'{key} is {holder.describe()}; wait for it to end (or stop it), then invalidate')
    retired = store.retire_all(todo)
    for key, dest in retired.items():
        console.print(f'invalidated {key} -> {os.path.relpath(dest, store.root)}' +
                      ('' if key in keys else ' (computed from it)'), highlight=False)
    console.print(f'{len(retired)} record(s) moved to records/history/ and their run folders to work/history/; '
                  'the next run recomputes them from scratch' if retired else 'no record to invalidate')
    return 0
