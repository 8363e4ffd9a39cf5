"""status, invalidate: the state of a table's records; setting records aside on purpose."""
import argparse
import os
from typing import Dict, List

from rich.table import Table as RTable

from analysis.deviations import RECIPE, deviations, in_words
from experiments.backends.status import TaskStatus, stopped, summary_result, summary_state, task_statuses
from experiments.cli.parser import command_line
from experiments.cli.plan import seed_text
from experiments.cli.selection import select_tasks
from experiments.core.errors import UsageError
from experiments.core.stages import stage_names, stage_spec
from experiments.planning.select import computed_from
from experiments.store.lease import Lease


def cmd_status(args, console) -> int:
    """A screen at any size: one line per row and stage with its counts by state; every
    task on its own line with ``--all``, ``--paths`` or a ``--rows`` selection."""
    table, profile, rows, store, tasks = select_tasks(args)
    statuses = task_statuses(tasks, store, command_line('run', args))
    detailed = args.all or args.paths or args.rows is not None
    title = f'status: {table.name}, profile {profile.name}'
    console.print(_tasks_table(title, statuses, store, args.paths, table) if detailed else
                  _summary_table(title, statuses, table))
    counts: Dict[str, int] = {}
    for s in statuses:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    more = '' if args.paths else (' (--paths: each task\'s log and record file)' if detailed else
                                  ' (--all: one line per task)')
    console.print(f'{len(tasks)} tasks: ' + ', '.join(f'{n} {k}' for k, n in sorted(counts.items())) + more,
                  highlight=False)
    logs = [s for s in statuses if s.log and stopped(s)] if not detailed else []
    for s in logs[:LOGS_SHOWN]:  # below the table, unwrapped, so that they can be copied
        console.print(f'{s.kind}: {s.task.rows[0]} {s.task.stage}{seed_label(s.task.seed)}, log {s.log}',
                      highlight=False, soft_wrap=True)
    if len(logs) > LOGS_SHOWN:
        console.print(f'... and {len(logs) - LOGS_SHOWN} more stopped task(s): --all lists each with its log')
    for s in statuses:
        if s.hint:
            console.print(s.hint, highlight=False, soft_wrap=True)
    for path, dest, why in store.moved:
        console.print(f'[yellow]damaged record[/] {path} ({why}) moved to {dest}')
    damaged = store.damaged()
    if damaged:
        console.print(f'{len(damaged)} damaged record file(s) kept under {os.path.join(store.root, "records", "damaged")}')
    return 0


LOGS_SHOWN = 10  # logs of stopped tasks listed below the summary


def seed_label(seed) -> str:
    return '' if seed is None else f' seed {seed}'


def _row_name(ref: str, table: str) -> str:
    """A row as shown: without its table's name, which the title says."""
    return ref[len(table) + 1:] if ref.startswith(table + '/') else ref


def _table(title: str) -> RTable:
    """A table that fits an 80-column terminal: no borders, one space between columns (a row
    id is 31 characters, a result value up to 24: with borders the ids broke mid-name)."""
    return RTable(title=title, box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style='bold underline')


def _recipe(statuses: List[TaskStatus], table) -> str:
    """How the run of the first done record differs from the paper's, compact (the facts'
    names): '' for a model-only stage measured as the paper measured it."""
    s = next((s for s in statuses if s.record is not None and s.kind == 'done'), None)
    row = s and next((r for r in table.rows if f'{table.name}/{r.id}' in s.task.rows), None)
    if row is None:
        return ''
    devs = deviations(s.record, row)
    if devs is None:
        return ''
    if not stage_spec(s.task.stage).depends_on() and not any(d.kind == RECIPE for d in devs):
        return ''
    return '\n' + in_words([d for d in devs if d.kind == RECIPE], compact=True)


def _tasks_table(title: str, statuses: List[TaskStatus], store, paths: bool, table) -> RTable:
    """One line per task (a task several rows share: its first row, and how many more)."""
    jobs = any(s.job for s in statuses)
    t = _table(title)
    t.add_column('row(s)', no_wrap=not paths)
    for col in ('stage', 'seed', 'state') + (('job', ) if jobs else ()) + ('result', ):
        t.add_column(col, overflow='fold' if col == 'result' else 'ellipsis', no_wrap=col in ('stage', 'seed'))
    if paths:
        t.add_column('log / record', overflow='fold')
    for s in statuses:
        result = s.result + (f' (log {s.log})' if s.log and not paths and stopped(s) else '')  # where to look
        result += _recipe([s], table)
        task = s.task
        names = [_row_name(r, table.name) for r in task.rows]
        shown = '\n'.join(names) if paths else names[0] + (f' (+{len(names) - 1})' if len(names) > 1 else '')
        t.add_row(shown, task.stage, seed_text(task.seed), s.state, *((s.job, ) if jobs else ()), result,
                  *((s.log + '\n' + store.path(task.key), ) if paths else ()))
    return t


def _summary_table(title: str, statuses: List[TaskStatus], table) -> RTable:
    """One line per row and stage: its tasks' counts by state, the jobs of those running,
    the first error of those that failed, the results of those done and how their run
    differs from the paper's."""
    rows = [r.id for r in table.rows]
    groups: Dict[tuple, List[TaskStatus]] = {}
    for s in statuses:
        for ref in s.task.rows:
            groups.setdefault((_row_name(ref, table.name), s.task.stage), []).append(s)
    order = {name: i for i, name in enumerate(stage_names())}
    position = {row: i for i, row in enumerate(rows)}  # the table's order, then its stages'
    groups = dict(sorted(groups.items(),
                         key=lambda g: (position.get(g[0][0], len(rows)), order.get(g[0][1], len(order)))))
    t = _table(title)
    t.add_column('row', no_wrap=True)
    t.add_column('stage', no_wrap=True)
    t.add_column('state')
    t.add_column('result', overflow='fold')
    for (row, stage), group in groups.items():
        t.add_row(row, stage, summary_state(group), summary_result(group) + _recipe(group, table))
    return t


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
