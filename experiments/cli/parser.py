"""The command line: one parser per command (its ``--help`` lists the options that apply),
and the typed options planning and the backends take, made from the parsed arguments."""
import argparse
import os
import shlex
from typing import Dict, List, Optional

from experiments.backends.base import backend_names
from experiments.core.stages import stage_names
from experiments.core import environment
from experiments.core.errors import UsageError
from experiments.planning.commands import suite_command
from experiments.planning.options import TABLE_COMMANDS, Option, PlanOptions, device_name, option_table
from experiments.registry.schema import DATASETS

COMMANDS = ('list', 'show', 'plan', 'status', 'run', 'report', 'compare', 'cityscapes-c', 'invalidate', 'evaluate', 'weights',
            'data', 'predict', 'export', 'calibrate')
MAX_SEED = 2**32 - 1  # numpy's seed range


def _csv(value: str) -> List[str]:
    return [v.strip() for v in value.split(',') if v.strip()]


def _nonempty_csv(flag: str):
    def parse(value: str) -> List[str]:
        out = [v.strip() for v in value.split(',')]
        if not any(out):  # e.g. an unset shell variable: never read as "everything"
            raise argparse.ArgumentTypeError(f'{flag} is empty; name at least one, or leave {flag} out for all')
        if not all(out):  # '0,,1': a value left out of a generated list
            raise argparse.ArgumentTypeError(f'{flag} {value!r} has an empty entry; give each value once, '
                                             'separated by single commas')
        twice = sorted({v for v in out if out.count(v) > 1})
        if twice:
            raise argparse.ArgumentTypeError(f'{flag} {value!r} names {", ".join(twice)} more than once; '
                                             'give each value once')
        return out
    return parse


def _nonempty_path(flag: str):
    def parse(text: str) -> str:
        if not text.strip():  # '' would make the current folder the store
            raise argparse.ArgumentTypeError(f'{flag} is empty; name a folder, or leave {flag} out for the default')
        return text
    return parse


def _seeds(value: str) -> List[int]:
    out = []
    for v in _nonempty_csv('--seeds')(value):
        try:
            seed = int(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f'--seeds takes integers, got {v!r}') from None
        if not 0 <= seed <= MAX_SEED:
            raise argparse.ArgumentTypeError(f'seed {seed} is out of range: seeds are 0..{MAX_SEED}')
        out.append(seed)
    return out


def _argparse_type(parse):
    """A parser raising ValueError with its reason, as argparse's ``type`` (which prints it)."""
    def parsed(text: str):
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parsed


def data_roots(values: List[str]) -> Dict[str, str]:
    """``--data-root DATASET=PATH`` options as a dict."""
    out = {}
    for v in values or []:
        ds, sep, path = v.partition('=')
        if not sep or ds not in DATASETS or not path:
            raise UsageError(f'--data-root takes DATASET=PATH with DATASET one of {", ".join(DATASETS)}, got {v!r}')
        out[ds] = path
    return out


# which options each command takes (its `--help` shows those; others are refused)
_TABLE_CMDS = set(TABLE_COMMANDS)
COMMAND_HELP = {
    'list': 'the tables of the registry',
    'show': 'a table: its rows, configs, published values and their sources',
    'plan': 'what a run would compute, its records, estimates and (slurm) the scripts; starts nothing',
    'run': 'compute the missing records of a table (also: run-experiment TABLE ...)',
    'status': 'the state of every record of a table, and of its SLURM jobs',
    'invalidate': 'move records to records/history/ so that the next run recomputes them',
    'evaluate': 'test released (official-layout) checkpoints of a table\'s rows',
    'weights': 'list, fetch, verify or add the pretrained encoder weights the paper profile reads',
    'data': 'prepare a dataset root from the downloaded archives, or check one file by file',
    'predict': 'a row\'s model on your images: overlay PNGs, as the official image demo',
    'export': 'a row\'s model as ONNX (deployment), checked against PyTorch with ONNX Runtime',
    'report': 'HTML, LaTeX and CSV of a table (or all) against the paper',
    'compare': 'two stores side by side (RUNS_A RUNS_B [TABLE]), or a store\'s training beside a published '
    'log (RUNS_A LOG): what differs in the numbers, beyond the seeds\' noise or not, and in how they were made',
    'calibrate': 'time each distinct model of a table on this node (training iteration, test image), so that '
    '`plan` projects hours and SLURM sizes --time from measured speed',
    'cityscapes-c': 'generate Cityscapes-C from a Cityscapes root',
}


def _add_options(p: argparse.ArgumentParser, command: Optional[str]) -> None:
    def add(commands, *flags, **kw):
        if command is None or command in commands:
            p.add_argument(*flags, **kw)

    _where_options(add)
    _measure_options(add)


def _where_options(add) -> None:
    """What to run and where: selection, backends, folders."""
    add(_TABLE_CMDS | {'weights', 'calibrate'}, '--weights-dir', default=None,
        help='pretrained encoder weights (default $UMIX_WEIGHTS or <runs-dir>/weights); the paper profile '
        'reads only from there')
    add(_TABLE_CMDS | {'predict', 'export', 'calibrate', 'compare'}, '--rows', type=_nonempty_csv('--rows'), default=None,
        help='comma-separated row ids (default: all runnable)')
    add(_TABLE_CMDS | {'compare'}, '--stages', type=_nonempty_csv('--stages'), default=None,
        help=f'comma-separated stages: {",".join(stage_names())} (default: the rows\')')
    add(_TABLE_CMDS | {'predict', 'export'}, '--seeds', type=_seeds, default=None, help='comma-separated seeds (default: the rows\')')
    add(_TABLE_CMDS | {'predict', 'export', 'calibrate'}, '--profile', default=PlanOptions.profile, help='paper (default), smoke (built-in data, CPU minutes), '
        'check (every stage of every row runs once, before a cluster run) or tiny (tests)')
    add({'status', 'plan', 'compare'}, '--all', action='store_true',
        help='status, plan: one line per task (default: one line per row and stage with its counts by state; also '
        'with --rows); compare: every pair, also those that do not differ')
    add({'status'}, '--paths', action='store_true',
        help='one line per task with its log and record file')
    add({'run'}, '--wait', action='store_true',
        help='wait for records another process is computing instead of skipping them')
    add({'plan', 'run', 'cityscapes-c'}, '--backend', default='local', choices=backend_names(),
        help='local: this machine, one task after another; slurm: sbatch arrays; or one registered with '
        'register_backend (experiments.backends.base)')
    add({'data'}, '--root', default=None, help='the dataset root to make or check (default: --data-root\'s '
        'rule: $UMIX_ADE20K_ROOT / $UMIX_CITYSCAPES_ROOT, else mmseg\'s data/ade/ADEChallengeData2016 or '
        'data/cityscapes)')
    add({'data'}, '--allow-other-digest', action='store_true',
        help='prepare: go on when an archive\'s digest differs from the published one')
    add(_TABLE_CMDS | {'weights', 'cityscapes-c', 'data', 'predict', 'export', 'calibrate'}, '--runs-dir', default=environment.value('UMIX_RUNS', PlanOptions.runs_dir),
        type=_nonempty_path('--runs-dir'),
        help='results store and run folders (default: ./runs or $UMIX_RUNS)')
    add(_TABLE_CMDS | {'cityscapes-c', 'predict', 'export', 'calibrate'}, '--data-root', action='append', default=[], metavar='DATASET=PATH',
        help='dataset root, e.g. ade20k=/data/ADEChallengeData2016 (else $UMIX_ADE20K_ROOT / '
        '$UMIX_CITYSCAPES_ROOT; the smoke profile defaults to the built-in data)')
    add(_TABLE_CMDS | {'list', 'show', 'weights', 'predict', 'export', 'calibrate', 'compare'}, '--tables', action='append', default=[], metavar='DIR',
        help='extra folder of table files (also $UMIX_TABLES)')


def _argparse_kwargs(opt: Option) -> dict:
    """An option of the option table as argparse's keywords."""
    if opt.switch:
        return dict(action='store_true', help=opt.help)
    if opt.repeat:
        return dict(action='append', default=[], choices=opt.choices, help=opt.help, metavar=opt.metavar)
    # '' (nothing given) is None here: argparse would parse a text default as if typed
    kw = dict(default=None if opt.default == '' else opt.default, help=opt.help, metavar=opt.metavar)
    if opt.choices is not None:
        kw['choices'] = [c for c in opt.choices if c != '']
    if opt.const is not None:
        kw.update(nargs='?', const=opt.const)
    if opt.parse is not None:
        kw['type'] = _argparse_type(opt.parse)
    return kw


def _measure_options(add) -> None:
    """How a stage measures (the option table: each in the record key or the record), and the
    commands' own options."""
    for opt in option_table():
        add(opt.commands, opt.flag, **_argparse_kwargs(opt))
    add({'report'}, '--layout', default='paper', choices=['paper', 'long'],
        help='tables in the paper\'s layout where the table defines one (default), or long form')
    add({'report', 'export', 'compare'}, '--format', type=_csv, default=None, help='report: html,latex,csv (default: '
        'all three); export: onnx (default); compare: console (default), json, md, csv or html (a file in --out, '
        'else printed)')
    add({'report'}, '--against', metavar='RUNS_B', default=None,
        help='another store: its values beside this one\'s on every page (paired as `compare` pairs; read only)')
    add({'evaluate'}, '--checkpoints', help='folder of released checkpoints (.pth, official layout)')
    add({'cityscapes-c', 'report', 'predict', 'export', 'compare'}, '--out', help='output folder (report: default '
        '<runs-dir>/reports/<profile>, e.g. a folder of your own when the store is read-only; predict: default '
        '<runs-dir>/predictions/<table>/<row>; export: <runs-dir>/exports/<table>)')
    add({'predict', 'export'}, '--checkpoint', help='weights to use instead of the row\'s training: a released checkpoint '
        '(official layout, converted) or one of this suite\'s; read as data only')
    add({'predict'}, '--device', default=None, help='cpu or cuda (default: cuda where there is one)')
    add({'cityscapes-c', 'data'}, '--workers', type=int, default=None,
        help='processes (default: the CPUs this job may use, its affinity)')
    add({'calibrate'}, '--iters', type=int, default=5, help='timed training iterations per model (default 5)')
    add({'calibrate'}, '--warmup', type=int, default=2, help='untimed iterations first (default 2)')
    add({'calibrate'}, '--images', type=int, default=3, help='timed test images per model (default 3)')
    add({'plan', 'run'}, '--calibration', type=_argparse_type(device_name), default=None, metavar='DEVICE',
        help='project hours (plan) and size SLURM\'s --time (run) from the calibrations made on DEVICE, e.g. '
        'a100, cuda or cpu (default: the profile\'s device: cuda for paper, cpu for smoke and tiny)')
    add({'cityscapes-c'}, '--corruptions', type=_csv, default=None, help='subset (default: all 16)')


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser of one command (its --help lists the options that apply), or,
    without one, of the whole interface."""
    if command is None:
        p = argparse.ArgumentParser(prog='run-experiment', description=__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter,
                                    epilog='commands: ' + ', '.join(COMMANDS) + '; run-experiment COMMAND --help '
                                    'lists the options of one')
        p.add_argument('command', help='list | show | plan | status | run | ... | TABLE (= run TABLE)')
        p.add_argument('table', nargs='?', help='table name (see `run-experiment list`); for weights: '
                       'list|fetch|verify')
        p.add_argument('target', nargs='?', help='weights: the table whose weights to list, fetch or verify')
    else:
        p = argparse.ArgumentParser(prog=f'run-experiment {command}', description=COMMAND_HELP[command])
        if command == 'weights':
            p.add_argument('table', choices=['list', 'fetch', 'verify', 'add'], metavar='list|fetch|verify|add')
            p.add_argument('target', nargs='?', help='the table whose weights (default: every table\'s); '
                           'add: the weights\' name (e.g. lvt)')
            p.add_argument('file', nargs='?', help='add: the file you downloaded')
        elif command == 'data':
            p.add_argument('table', choices=['prepare', 'check'], metavar='prepare|check')
            p.add_argument('target', choices=['ade20k', 'cityscapes'], metavar='ade20k|cityscapes')
            p.add_argument('archives', nargs='*', help='prepare: the downloaded zip archives (ADE20K: '
                           'ADEChallengeData2016.zip; Cityscapes: leftImg8bit_trainvaltest.zip and '
                           'gtFine_trainvaltest.zip)')
        elif command == 'report':
            p.add_argument('table', help='a table name, or all')
        elif command == 'compare':
            p.add_argument('a', metavar='RUNS_A', help='a results store (--runs-dir of a run)')
            p.add_argument('b', metavar='RUNS_B|LOG', help='another store, or a training log (*.log.json of mmseg '
                           '0.x, or mmengine\'s vis_data/scalars.json) to compare RUNS_A\'s training with')
            p.add_argument('table', nargs='?', default=None, help='only this table\'s records')
        elif command == 'predict':
            p.add_argument('table', help='table name (see `run-experiment list`)')
            p.add_argument('images', nargs='+', help='image files')
        elif command == 'export':
            p.add_argument('table', help='table name (see `run-experiment list`)')
        elif command in _TABLE_CMDS or command in ('show', 'calibrate'):
            p.add_argument('table', help='table name (see `run-experiment list`)')
    _add_options(p, command)
    return p


_PATH_OPTIONS = ('runs_dir', 'tables', 'weights_dir', 'checkpoints', 'root', 'checkpoint', 'out')


def command_line(command: str, args: argparse.Namespace) -> str:
    """``run-experiment COMMAND TABLE`` with every option of ``args`` that COMMAND
    takes and that is not its default: the exact follow-up to a command."""
    parts = suite_command(command, *([args.table] if getattr(args, 'table', None) else []))
    for action in build_parser(command)._actions:
        if not action.option_strings or action.dest == 'help':
            continue
        value = getattr(args, action.dest, action.default)
        if action.dest in _PATH_OPTIONS and value:  # the hint works from any folder
            value = [os.path.abspath(v) for v in value] if isinstance(value, list) else os.path.abspath(value)
        elif value == action.default or value is None:
            continue
        flag = action.option_strings[0]
        if isinstance(action, argparse._StoreTrueAction):
            parts.append(flag)
        elif isinstance(action, argparse._AppendAction):
            parts += [x for v in value for x in (flag, str(v))]
        else:
            parts += [flag, ','.join(map(str, value)) if isinstance(value, list) else str(value)]
    return shlex.join(parts)


def parse_args(argv: List[str]) -> argparse.Namespace:
    """``COMMAND [TABLE] [options]`` or ``TABLE [options]`` (= run), parsed by the
    command's own parser; the options other commands take keep their defaults."""
    command = argv[0] if argv and argv[0] in COMMANDS else 'run'
    rest = argv[1:] if argv and argv[0] in COMMANDS else argv
    args = build_parser(command).parse_args(rest)
    args.command = command
    for key, value in vars(build_parser().parse_args(['list'])).items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args
