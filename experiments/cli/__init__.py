"""run-experiment: list, show, plan, run and inspect the paper's tables.

    run-experiment list
    run-experiment show TABLE
    run-experiment plan TABLE [--rows R,..] [--stages S,..] [--profile P]
    run-experiment TABLE [--rows R,..] [--stages S,..] [--seeds N,..] [--profile P]
                   [--backend local|slurm [--slurm-profile FILE] [--slurm KEY=VALUE]]
    run-experiment status TABLE
    run-experiment invalidate TABLE --rows R,.. --stages S,..   (records kept under records/history/)
    run-experiment evaluate TABLE --checkpoints DIR [--stages test,robustness]   (released checkpoints)
    run-experiment weights list|fetch|verify [TABLE] [--weights-dir DIR]   (pretrained encoders)
    run-experiment report TABLE|all [--format html,latex,csv] [--profile P]
    run-experiment cityscapes-c --data-root cityscapes=PATH --out DIR [--workers N] [--backend slurm]
    run-experiment export TABLE --rows ROW [--checkpoint FILE] [--format onnx]   (ONNX, checked with ONNX Runtime)
    run-experiment calibrate TABLE [--rows R,..] [--profile P]   (time each model here: plan's hours, SLURM's --time)

The CLI is the top layer: each command is a module here (``browse``, ``plan``, ``status``,
``run``, ``data``, ``weights``, ``report``, ``predict``; ``job`` is the job side of a SLURM
task), imported only when that command runs, over the public API of the layers below.
"""
import argparse
import contextlib
import errno
import importlib
import os
import signal
import sys
import warnings
from typing import List, Optional

from rich.console import Console

from experiments.cli.parser import COMMAND_HELP, COMMANDS, parse_args
from experiments.core import environment
from experiments.core.errors import SuiteError
from experiments.core.signals import Interrupted
from umixformer_config.errors import UmixformerError

# the module of each command; its handler is cmd_<command>
HANDLERS = {'list': 'browse', 'show': 'browse', 'plan': 'plan', 'status': 'status', 'invalidate': 'status',
            'run': 'run', 'evaluate': 'run', 'report': 'report', 'compare': 'compare', 'cityscapes-c': 'data', 'data': 'data',
            'weights': 'weights', 'predict': 'predict', 'export': 'export', 'calibrate': 'calibrate'}
# mmseg's own deprecation chatter, printed once per model built
_QUIET = ('``build_loss`` would be deprecated', 'Default ``avg_non_ignore`` is False',
          '`reduce_zero_label` will be deprecated', 'pkg_resources is deprecated')


def handler(command: str):
    """The function of a command: the CLI's one dispatch (only that command's imports load)."""
    module = importlib.import_module(f'experiments.cli.{HANDLERS[command]}')
    return getattr(module, 'cmd_' + command.replace('-', '_'))


def unwritable(err: OSError, args: argparse.Namespace) -> str:
    """What could not be written (or done), why, and what to do instead."""
    where = err.filename or 'a file'
    text = f'cannot write {where}: {err.strerror or err}'
    runs = os.path.abspath(args.runs_dir)
    denied = err.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    if denied and isinstance(where, str) and (os.path.abspath(where) + os.sep).startswith(runs + os.sep):
        text += (f'. The runs folder {runs} is not writable here: status and plan read it as it is, '
                 '`report ... --out DIR` writes reports elsewhere, and --runs-dir DIR (or $UMIX_RUNS) names a '
                 'folder you can write for runs')
    return text


def suite_errors() -> tuple:
    """What main reports as an error of the input (exit 2): the suite's own errors and the
    model library's (a config or checkpoint it cannot use)."""
    return (SuiteError, UmixformerError)


def _first_look() -> int:
    console = Console()
    handler('list')(parse_args(['list']), console)
    console.print('examples:\n  run-experiment show table1\n  run-experiment table1 --profile smoke   '
                  '# built-in data, minutes on a CPU\n  run-experiment plan table1 --backend slurm --slurm-profile '
                  'slurm/profiles/example.toml\n(run-experiment COMMAND --help for the options of one)', highlight=False)
    return 0


def _help() -> int:
    print(__doc__.split('\n\nThe CLI is')[0].rstrip() + '\n\ncommands:')
    for name in COMMANDS:
        print(f'  {name:13s} {COMMAND_HELP[name]}')
    print('\nrun-experiment COMMAND --help lists the options of one command.')
    return 0


def load_plugins(names: str) -> None:
    """Imports the modules of ``$UMIX_PLUGINS`` (comma-separated): your stages, options,
    metrics and backends register themselves when imported, before any command line is
    parsed (a SLURM job inherits the variable: its node registers the same)."""
    for name in (n.strip() for n in names.split(',')):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except Exception as err:
            raise PluginError(f'$UMIX_PLUGINS names {name!r}, which does not import ({type(err).__name__}: {err}); '
                              'put its folder on PYTHONPATH or correct the name') from err


class PluginError(SuiteError, ImportError):
    """A plugin module of $UMIX_PLUGINS does not import."""


def main(argv: Optional[List[str]] = None) -> int:
    for msg in _QUIET:
        warnings.filterwarnings('ignore', message='.*' + msg.replace('`', '.'))
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        environment.check_all()  # a bad $UMIX_* value, named before anything starts
        load_plugins(os.environ.get('UMIX_PLUGINS', ''))
    except (PluginError, environment.VariableError) as err:
        print(f'run-experiment: error: {err}', file=sys.stderr)
        return 2
    if argv[:1] == ['exec-task']:
        if len(argv) != 3:
            print('usage: run-experiment exec-task MANIFEST INDEX', file=sys.stderr)
            return 2
        return importlib.import_module('experiments.cli.job').exec_task(argv[1], int(argv[2]))
    if not argv:  # a first look: the tables and how to start
        return _first_look()
    if argv[0] in ('-h', '--help'):
        return _help()
    args = parse_args(argv)
    args.argv = argv  # the command as typed: what a failure screen says to run again
    # a pipe or a log file gets wide tables rather than 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=170)

    def on_signal(signum, frame):
        raise Interrupted(signal.Signals(signum).name)
    if args.command == 'run':
        signal.signal(signal.SIGTERM, on_signal)
        # the terminal closed or the ssh session dropped; under nohup SIGHUP is ignored and stays so
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, on_signal)
    try:
        return handler(args.command)(args, console)
    except KeyboardInterrupt as err:
        name = getattr(err, 'signal_name', 'SIGINT')
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone (the record is written)
            console.print(f'run-experiment: interrupted by {name}; the running task is recorded as interrupted '
                          'and the same command resumes it', highlight=False)
        return 128 + signal.Signals[name].value
    except Exception as err:  # the suite's errors are reported; anything else is a bug: its traceback
        if isinstance(err, suite_errors() + (FileNotFoundError, )):  # also an input file that is not there
            console.print(f'[red]run-experiment: error:[/] {err}', markup=True, highlight=False)
            return 2
        if not isinstance(err, OSError):
            raise
        # e.g. a read-only or full runs folder: say what could not be written
        console.print(f'[red]run-experiment: error:[/] {unwritable(err, args)}', markup=True, highlight=False)
        return 2
