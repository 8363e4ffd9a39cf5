"""From a parsed command line to planning and a backend: the typed options they take."""
import argparse
import os
import shlex

from experiments.backends.base import Backend, BackendOptions, get_backend
from experiments.cli.parser import command_line, data_roots
from experiments.planning.commands import reproduce_command, suite_argv, suite_command
from experiments.planning.options import PlanOptions, option_table
from experiments.planning.select import Selection, select


def plan_options(args: argparse.Namespace) -> PlanOptions:
    """What a parsed command line asks planning for."""
    def tup(v):
        return None if v is None else tuple(v)
    return PlanOptions(
        table=args.table, rows=tup(args.rows), stages=tup(args.stages), seeds=tup(args.seeds), profile=args.profile,
        runs_dir=args.runs_dir, data_roots=data_roots(args.data_root), tables=tuple(args.tables),
        weights_dir=args.weights_dir, settings=settings(args))


def settings(args: argparse.Namespace, backend: bool = False) -> dict:
    """The option table's options a parsed command line gives (those not at their default):
    planning's, or (``backend``) the backends' own."""
    out = {}
    for opt in option_table():
        if bool(opt.backend) != backend:
            continue
        value = getattr(args, opt.name, opt.default)
        if opt.repeat:  # argparse's list, each value once
            value = tuple(dict.fromkeys(value or ()))
        if value is not None and value != opt.default:
            out[opt.name] = value
    return out


def select_tasks(args: argparse.Namespace, profile_rows: bool = True, released: bool = False) -> Selection:
    """``select`` of what a parsed command line asks for."""
    return select(plan_options(args), profile_rows, released)


def rerun_command(args: argparse.Namespace) -> str:
    """The command line as the user typed it (``--verbose`` left out), else the equivalent
    one: running it again recomputes exactly what did not finish."""
    if getattr(args, 'argv', None):
        return shlex.join(suite_command(*(a for a in args.argv if a != '--verbose')))
    return command_line(args.command, argparse.Namespace(**{**vars(args), 'verbose': False}))


def make_backend(args: argparse.Namespace) -> Backend:
    """The backend of ``--backend``, with how this command line reproduces one task."""
    roots = data_roots(args.data_root)
    runs, weights = os.path.abspath(args.runs_dir), getattr(args, 'weights_dir', None)

    def command_for(t):
        return reproduce_command(t, roots, runs, weights)
    options = BackendOptions(
        settings=settings(args, backend=True), tables=tuple(os.path.abspath(d) for d in args.tables),
        wait=bool(getattr(args, 'wait', False)), workers=args.workers,
        rerun=rerun_command(args),
        status=command_line('status', args), calibration=getattr(args, 'calibration', None) or '')
    return get_backend(args.backend, options, command_for, lambda t: suite_argv(command_for(t)))


def other_tests(args: argparse.Namespace) -> list:
    """The seed-0 test tasks of every runnable row of the command's table (which row a
    weights file fits, when it does not fit the one asked for)."""
    other = argparse.Namespace(**{**vars(args), 'rows': None, 'stages': ['test'], 'seeds': [0]})
    return [t for t in select_tasks(other, profile_rows=False, released=bool(getattr(args, 'checkpoint', None))).tasks
            if t.stage == 'test']
