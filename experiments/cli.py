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
"""
import argparse
import errno
import math
import os
import re
import shlex
import sys
import time
from typing import Dict, List, Optional

COMMANDS = ('list', 'show', 'plan', 'status', 'run', 'report', 'cityscapes-c', 'invalidate', 'evaluate', 'weights',
            'data', 'predict')
MAX_SEED = 2**32 - 1  # numpy's seed range


def _csv(value: str) -> List[str]:
    return [v.strip() for v in value.split(',') if v.strip()]


def _nonempty_csv(flag: str):
    def parse(value: str) -> List[str]:
        out = _csv(value)
        if not out:  # e.g. an unset shell variable: never read as "everything"
            raise argparse.ArgumentTypeError(f'{flag} is empty; name at least one, or leave {flag} out for all')
        return out
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


def _device_name(value: str) -> str:
    if not re.fullmatch(r'[a-z0-9][a-z0-9._-]*', value.lower()):
        raise argparse.ArgumentTypeError(f'--latency-device takes a device name such as a100, h100 or cpu, got {value!r}')
    return value.lower()


def _data_roots(values: List[str]) -> Dict[str, str]:
    from .registry import DATASETS
    out = {}
    for v in values or []:
        ds, sep, path = v.partition('=')
        if not sep or ds not in DATASETS or not path:
            raise ValueError(f'--data-root takes DATASET=PATH with DATASET one of {", ".join(DATASETS)}, got {v!r}')
        out[ds] = path
    return out


# which options each command takes (its `--help` shows those; others are refused)
_TABLE_CMDS = {'plan', 'status', 'run', 'invalidate', 'evaluate', 'report'}
_KEYED = _TABLE_CMDS  # the record keys they read depend on these options
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
    'report': 'HTML, LaTeX and CSV of a table (or all) against the paper',
    'cityscapes-c': 'generate Cityscapes-C from a Cityscapes root',
}


def _add_options(p: argparse.ArgumentParser, command: Optional[str]) -> None:
    def add(commands, *flags, **kw):
        if command is None or command in commands:
            p.add_argument(*flags, **kw)

    add(_TABLE_CMDS | {'weights'}, '--weights-dir', default=None,
        help='pretrained encoder weights (default $UMIX_WEIGHTS or <runs-dir>/weights); the paper profile '
        'reads only from there')
    add(_TABLE_CMDS | {'predict'}, '--rows', type=_nonempty_csv('--rows'), default=None,
        help='comma-separated row ids (default: all runnable)')
    add(_TABLE_CMDS, '--stages', type=_nonempty_csv('--stages'), default=None,
        help='comma-separated stages: train,test,complexity,latency,robustness (default: the rows\')')
    add(_TABLE_CMDS | {'predict'}, '--seeds', type=_seeds, default=None, help='comma-separated seeds (default: the rows\')')
    add(_TABLE_CMDS | {'predict'}, '--profile', default='paper', help='paper (default), smoke (built-in data, CPU minutes) '
        'or tiny (tests)')
    add({'run', 'evaluate'}, '--verbose', action='store_true',
        help='stream mmengine\'s full logs to the console (default: into each task\'s log file)')
    add({'status'}, '--paths', action='store_true',
        help='also each task\'s log and record file (default: one line per task and a count per state)')
    add({'run', 'evaluate'}, '--tracker', action='append', default=[], choices=['tensorboard', 'mlflow', 'wandb'],
        help='also log training and test to this tracker (mmengine vis backend; repeatable): tensorboard, mlflow '
        '($MLFLOW_TRACKING_URI, default file://<runs-dir>/mlruns) or wandb (offline unless $WANDB_MODE)')
    add({'run'}, '--wait', action='store_true',
        help='wait for records another process is computing instead of skipping them')
    add({'plan', 'run', 'cityscapes-c'}, '--backend', default='local', choices=['local', 'slurm'],
        help='local: this machine, one task after another; slurm: sbatch arrays')
    add({'plan', 'run', 'cityscapes-c'}, '--slurm-profile', default=os.environ.get('UMIX_SLURM_PROFILE'),
        help='cluster profile (TOML, see slurm/profiles/example.toml; also $UMIX_SLURM_PROFILE)')
    add({'plan', 'run', 'cityscapes-c'}, '--slurm', action='append', default=[], metavar='KEY=VALUE',
        help='override a cluster-profile key, e.g. --slurm partition=debug --slurm time=10')
    add({'data'}, '--root', default=None, help='the dataset root to make or check (default: --data-root\'s '
        'rule: $UMIX_ADE20K_ROOT / $UMIX_CITYSCAPES_ROOT, else mmseg\'s data/ade/ADEChallengeData2016 or '
        'data/cityscapes)')
    add({'data'}, '--allow-other-digest', action='store_true',
        help='prepare: go on when an archive\'s digest differs from the published one')
    add(_TABLE_CMDS | {'weights', 'cityscapes-c', 'data', 'predict'}, '--runs-dir', default=os.environ.get('UMIX_RUNS', 'runs'),
        help='results store and run folders (default: ./runs or $UMIX_RUNS)')
    add(_TABLE_CMDS | {'cityscapes-c', 'predict'}, '--data-root', action='append', default=[], metavar='DATASET=PATH',
        help='dataset root, e.g. ade20k=/data/ADEChallengeData2016 (else $UMIX_ADE20K_ROOT / '
        '$UMIX_CITYSCAPES_ROOT; the smoke profile defaults to the built-in data)')
    add(_TABLE_CMDS | {'list', 'show', 'weights', 'predict'}, '--tables', action='append', default=[], metavar='DIR',
        help='extra folder of table files (also $UMIX_TABLES)')
    add(_KEYED, '--precision', default='fp32', choices=['fp32', 'fp16', 'bf16'],
        help='latency: autocast precision (default fp32)')
    add(_KEYED, '--optimize', action='store_true',
        help='latency: the fastest configuration of the same function: fused attention (encoder and '
        'head), projected-first fuse, channels-last where it is faster on this device (recorded)')
    add(_KEYED, '--channels-last', action='store_true', help='latency: force the channels-last memory format')
    add(_KEYED, '--compile', action='store_true', help='latency: torch.compile backbone and head')
    add(_KEYED, '--latency-device', type=_device_name, default=None,
        help='latency: the device these timings are for (e.g. a100): a row per GPU model; checked on the node '
        'before timing (default: none declared; the record states the device it ran on)')
    add(_KEYED, '--latency-protocol', default='mmseg-benchmark', choices=['mmseg-benchmark', 'single-image'],
        help='latency: mmseg\'s benchmark (validation images, predict mode, 5 warm-up, 200 images; the '
        'paper\'s setting; default) or one random image timed N times')
    add(_KEYED | {'cityscapes-c'}, '--cityscapes-c-protocol', default='segformer',
        choices=['segformer', 'official-bgr'],
        help='robustness / cityscapes-c: corrupt RGB images (segformer, default) or BGR arrays as '
        'the official runs did (official-bgr: frost and spatter colours swapped)')
    add({'plan', 'run', 'evaluate'}, '--cityscapes-c-source', default='files', choices=['files', 'on-the-fly'],
        help='robustness: read Cityscapes-C generated once on disk (files, default; about 100 GB for '
        'the full set: `plan` projects it) or corrupt each image as it is loaded (on-the-fly: no disk, '
        'the same pixels, the corruption cost paid at every evaluation)')
    add({'report'}, '--layout', default='paper', choices=['paper', 'long'],
        help='tables in the paper\'s layout where the table defines one (default), or long form')
    add({'report'}, '--format', type=_csv, default=None, help='html,latex,csv (default: all three)')
    add({'evaluate'}, '--checkpoints', help='folder of released checkpoints (.pth, official layout)')
    add({'cityscapes-c', 'report', 'predict'}, '--out', help='output folder (report: default '
        '<runs-dir>/reports/<profile>, e.g. a folder of your own when the store is read-only; predict: default '
        '<runs-dir>/predictions/<table>/<row>)')
    add({'predict'}, '--checkpoint', help='weights to use instead of the row\'s training: a released checkpoint '
        '(official layout, converted) or one of this suite\'s; read as data only')
    add({'predict'}, '--device', default=None, help='cpu or cuda (default: cuda where there is one)')
    add({'cityscapes-c', 'data'}, '--workers', type=int, default=None,
        help='processes (default: the CPUs this job may use, its affinity)')
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
        elif command == 'predict':
            p.add_argument('table', help='table name (see `run-experiment list`)')
            p.add_argument('images', nargs='+', help='image files')
        elif command in _TABLE_CMDS or command == 'show':
            p.add_argument('table', help='table name (see `run-experiment list`)')
    _add_options(p, command)
    return p


_PATH_OPTIONS = ('runs_dir', 'tables', 'weights_dir', 'checkpoints', 'root', 'checkpoint', 'out')


def command_line(command: str, args: argparse.Namespace) -> str:
    """``run-experiment COMMAND TABLE`` with every option of ``args`` that COMMAND
    takes and that is not its default: the exact follow-up to a command."""
    parts = ['run-experiment', command] + ([args.table] if getattr(args, 'table', None) else [])
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


def _fmt(v, nd=2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '—'
    return f'{v:.{nd}f}' if isinstance(v, float) else str(v)


def cmd_list(args, console) -> int:
    from rich.table import Table as RTable
    from .registry import load_registry
    t = RTable(title='tables')
    for col in ('name', 'title', 'runnable rows', 'cited rows', 'file'):
        t.add_column(col)
    for name, table in sorted(load_registry(args.tables).items()):
        t.add_row(name, table.title, str(len(table.runnable())), str(len(table.rows) - len(table.runnable())),
                  os.path.relpath(table.path))
    console.print(t)
    return 0


def cmd_show(args, console) -> int:
    from rich.table import Table as RTable
    from .registry import CONFIG_DIR, get_table
    table = get_table(args.table, args.tables)
    t = RTable(title=f'{table.name}: {table.title}', caption=table.source)
    for col in ('row', 'group', 'method', 'dataset', 'stages', 'seeds', 'config', 'published', 'provenance'):
        t.add_column(col, overflow='fold')
    for r in table.rows:
        pub = ', '.join(f'{k}={v}' for k, v in r.published.items()) or 'UNKNOWN'
        cfg = os.path.relpath(r.config, CONFIG_DIR) if r.config else '(cited)'
        t.add_row(r.id, r.group, r.label, r.dataset, ','.join(r.stages), ','.join(map(str, r.seeds)), cfg,
                  pub, r.provenance)
    console.print(t)
    return 0


def select_tasks(args, profile_rows: bool = True, released: bool = False):
    """The tasks a command line computes (``parse_args``), as (table, profile, rows,
    store, tasks): the one way into planning for the commands, tests and tools.
    Without --rows, a profile's row selection of the table applies unless
    ``profile_rows`` is False (reports show every row).
    ``released``: the tasks evaluate released checkpoints, whose heads are as
    published (the profile does not size them to the built-in data)."""
    import dataclasses
    from .profiles import get_profile
    from .registry import get_table, select_rows
    from .store import Store
    from .tasks import LatencyOptions, plan
    table = get_table(args.table, args.tables)
    profile = get_profile(args.profile)
    if released:
        profile = dataclasses.replace(profile, builtin_classes=False)
    rows_arg = args.rows
    selection = table.profiles.get(profile.name, {}) if rows_arg is None and profile_rows else {}
    if selection:
        rows_arg = selection.get('rows')
    rows = select_rows(table, rows_arg)
    store = Store(args.runs_dir)
    latency = LatencyOptions(args.precision, args.optimize, args.channels_last, args.compile, args.latency_protocol,
                             args.latency_device or '')
    tasks = plan(table, rows, args.stages, args.seeds, profile, _data_roots(args.data_root), store, latency,
                 args.cityscapes_c_protocol, args.weights_dir, args.cityscapes_c_source)
    # stages cheap enough to run on every row of the table, not only the selected ones
    every = [s for s in selection.get('every_row_stages', []) if args.stages is None or s in args.stages]
    others = [r for r in table.rows if r not in rows and not r.cited and set(every) & set(r.stages)]
    if every and others:
        keys = {t.key for t in tasks}
        tasks += [t for t in plan(table, others, every, args.seeds, profile, _data_roots(args.data_root), store,
                                  latency, args.cityscapes_c_protocol, args.weights_dir, args.cityscapes_c_source)
                  if t.key not in keys]
        rows = rows + others
    return table, profile, rows, store, tasks


def _backend(args, profile):
    """The backend of --backend, with how this command reproduces one task."""
    from .backends import get_backend
    from .tasks import reproduce_command
    roots = _data_roots(args.data_root)
    runs, weights = os.path.abspath(args.runs_dir), getattr(args, 'weights_dir', None)

    def argv_for(t):
        return shlex.split(reproduce_command(t, roots, runs, weights))[1:]
    return get_backend(args.backend, args, lambda t: reproduce_command(t, roots, runs, weights), argv_for,
                       command_line('status', args))


def cmd_plan(args, console) -> int:
    from rich.table import Table as RTable
    table, profile, rows, store, tasks = select_tasks(args)
    t = RTable(title=f'plan: {table.name}, profile {profile.name}, backend {args.backend}')
    for col in ('stage', 'row(s)', 'seed', 'record', 'state', 'estimate'):
        t.add_column(col, overflow='fold')
    total = 0.0
    unit = 'CPU min' if profile.minutes_per_stage else 'GPU h'
    for task in tasks:
        rec = store.get(task.key)
        state = rec.status if rec else 'to run'
        if state == 'done':
            est = 0.0
        elif profile.minutes_per_stage:
            est = profile.minutes_per_stage.get(task.stage, 1.0)
        else:
            est = task.row.gpu_hours.get(task.stage, 0.0) * (task.row.world_size if task.stage == 'train' else 1)
        total += est
        t.add_row(task.stage, '\n'.join(task.rows), _fmt(task.seed), task.key,
                  'done (skipped)' if state == 'done' else state, f'{est:.2f} {unit}')
    console.print(t)
    _backend(args, profile).describe(table, tasks, store, console)
    todo = sum(1 for task in tasks if not store.is_done(task.key))
    console.print(f'{len(tasks)} tasks, {todo} to run, about {total:.1f} {unit} by the registry\'s estimates '
                  f'(dry run: nothing was started)')
    _print_data_checks([x for x in tasks if not store.is_done(x.key)], store, console)
    _print_generation_cost([x for x in tasks if x.stage == 'robustness' and not store.is_done(x.key)
                            and x.options.get('source') != 'on-the-fly'], store, profile, console)
    return 0


def _print_data_checks(tasks, store, console) -> None:
    """The check `run` makes of each data root, without generating or failing (a dry run)."""
    from .cityscapes_c import available_cpus
    from .data_check import verify
    from .datasets import DatasetRootError
    for dataset, root in sorted({(t.row.dataset, t.data_root) for t in tasks if t.data_root}):
        builtin = store.is_builtin_root(root)
        if builtin and not os.path.exists(root):
            console.print(f'data: {dataset} built-in data, generated at {root} by the run', highlight=False)
            continue
        try:
            check = verify(dataset, root, os.path.join(store.root, 'cache'), available_cpus(),
                           expect_official=not builtin)
        except DatasetRootError as err:
            console.print(f'[red]data:[/] {str(err).splitlines()[0]} (run would stop here)', highlight=False)
            continue
        found = check.problems() + check.warnings()
        counts = ', '.join(f'{k} {v:,}' for k, v in check.counts().items())
        console.print(f'data: {dataset} at {root}: {counts} image/label pairs'
                      + (f'; [red]{len(check.problems())} problem(s)[/], run would stop: ' if check.problems() else
                         '; ' if found else '; checked') + '; '.join(found), highlight=False)


def _print_generation_cost(tasks, store, profile, console) -> None:
    """What the Cityscapes-C the robustness tasks read costs to generate (once per
    source root and protocol), before anything is queued."""
    from .cityscapes_c import available_cpus, generation_estimate
    from .stages import cityscapes_c_root
    seen = set()
    for task in tasks:
        out = cityscapes_c_root(task, store)
        if out in seen:
            continue
        seen.add(out)
        est = generation_estimate(task.data_root, out, profile.robustness_images)
        cores = available_cpus()
        console.print(f'Cityscapes-C for the robustness stage: {est["images"]} images x {est["variants"]} '
                      f'variants, {est["to_write"]} still to write in {out}: about {est["cpu_hours"]:.1f} CPU-hours '
                      f'({est["cpu_hours"] / cores:.1f} h on this machine\'s {cores} cores) and '
                      f'{est["disk_gib"]:.1f} GiB of PNG (projected from tools/bench_corruptions.py)')


def cmd_status(args, console) -> int:
    from rich.table import Table as RTable
    from .tasks import invalidate_command
    table, profile, rows, store, tasks = select_tasks(args)
    from .backends import backend_class
    # what SLURM queued for these records (submissions in the store), whatever --backend says
    jobs = backend_class('slurm').jobs(store, [t.key for t in tasks])
    t = RTable(title=f'status: {table.name}, profile {profile.name}')
    for col in ('row(s)', 'stage', 'seed', 'state', 'job', 'result') + (('log / record', ) if args.paths else ()):
        t.add_column(col, overflow='fold')
    counts: Dict[str, int] = {}
    from .lease import Lease
    hints = []  # printed below the table, unwrapped, so that they can be copied
    for task in tasks:
        rec = store.get(task.key)
        state = rec.status if rec else 'missing'
        counts[state] = counts.get(state, 0) + 1
        if rec and rec.status == 'running':
            lease = Lease(store.root, task.key)
            holder = lease.holder()
            if holder is None or lease.is_stale(holder):
                since = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder.heartbeat)) if holder else \
                    rec.started_at
                state = f'stale (no heartbeat since {since}); a rerun takes it over'
            else:
                state = f'running ({holder.describe()[len("being computed by "):]})'
        if rec and rec.status == 'done' and rec.stage == 'train':
            ckpt = store.abs(rec.artifacts.get('checkpoint', ''))
            if not os.path.exists(ckpt):
                state = f'done, but its checkpoint {ckpt} is gone (see below)'
                hints.append(f'{task.key}: its checkpoint is gone; to recompute it: '
                             f'{invalidate_command(task, store)} and then {command_line("run", args)}')

        job = jobs.get(task.key)
        slurm_state = job['state'] if job else None
        if slurm_state and slurm_state not in ('COMPLETED', ):
            state = f'{state} (slurm: {slurm_state})' if rec else f'slurm: {slurm_state}'
        elif job and not slurm_state and not rec:  # SLURM forgot the job (MinJobAge) and it left no record
            state = (f'submitted as {job["job"]}, which SLURM no longer knows (ended before MinJobAge; no '
                     'accounting) and which wrote no record: it never started or was killed; see its log')
        result = ''
        if rec and rec.status == 'done':
            m = rec.metrics
            result = ', '.join(f'{k}={_fmt(m[k])}' for k in ('miou', 'gflops', 'params_m', 'latency_ms',
                                                              'final_loss') if k in m)
            if rec.resumed_from:
                result += f' (resumed from {os.path.basename(rec.resumed_from)})'
        elif rec and rec.status == 'failed':
            result = rec.error.splitlines()[0][:120]
        log = job['log'] if job else (rec.log if rec and rec.log else '')
        if log and not args.paths and rec and rec.status not in ('done', 'running'):
            result += f' (log {store.abs(log)})'  # where to look, for what went wrong
        rows = task.rows if args.paths else [task.rows[0] + (f' (+{len(task.rows) - 1})' if len(task.rows) > 1 else '')]
        t.add_row('\n'.join(rows), task.stage, _fmt(task.seed), state, job['job'] if job else '', result,
                  *(((store.abs(log) if log else '') + '\n' + store.path(task.key), ) if args.paths else ()))
    console.print(t)
    console.print(f'{len(tasks)} tasks: ' + ', '.join(f'{n} {s}' for s, n in sorted(counts.items())) +
                  ('' if args.paths else ' (--paths: each task\'s log and record file)'), highlight=False)
    for hint in hints:
        console.print(hint, highlight=False, soft_wrap=True)
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
        raise ValueError('invalidate needs --rows and --stages (what to recompute, named explicitly)')
    table, profile, rows, store, tasks = select_tasks(args)
    args_all = argparse.Namespace(**{**vars(args), 'stages': None})
    _, _, _, _, everything = select_tasks(args_all)
    keys = [t.key for t in tasks if t.stage in args.stages]
    todo, i = list(keys), 0
    while i < len(todo):  # what was computed from an invalidated record goes too
        todo += [t.key for t in everything if t.needs == todo[i] and t.key not in todo]
        i += 1
    from .lease import Lease
    for key in todo:  # never pull a run folder from under a process computing it
        lease = Lease(store.root, key)
        holder = lease.holder()
        if holder is not None and not lease.is_stale(holder):
            raise ValueError(f'{key} is {holder.describe()}; wait for it to end (or stop it), then invalidate')
    retired = store.retire_all(todo)
    for key, dest in retired.items():
        console.print(f'invalidated {key} -> {os.path.relpath(dest, store.root)}' +
                      ('' if key in keys else ' (computed from it)'), highlight=False)
    console.print(f'{len(retired)} record(s) moved to records/history/ and their run folders to work/history/; '
                  'the next run recomputes them from scratch' if retired else 'no record to invalidate')
    return 0


def print_comparison(table, tasks, store, rows, console, profile: str = 'paper') -> None:
    from rich.table import Table as RTable
    from analysis.collect import POINT_METRICS, table_frame
    from analysis.verdicts import scorecard, verdict_frame
    df = table_frame(table, tasks, store, rows)
    verdicts = verdict_frame(table, tasks, store, profile)
    vmap = {(v['row'], v['metric']): v for v in verdicts.to_dict('records')}
    t = RTable(title=f'{table.title}: reproduced vs published ({table.source})')
    for col in ('row', 'dataset'):
        t.add_column(col)
    show_effective = 'params_m' in table.metrics
    if show_effective:  # what this implementation builds, beside the published-layout count
        t.add_column('params eff.', justify='right')
    show_device = bool({'latency_ms', 'fps'} & set(table.metrics))
    if show_device:  # a timing belongs to the device it ran on
        t.add_column('timed on', overflow='fold')
    for m in table.metrics:
        t.add_column(m, justify='right')
        t.add_column('paper', justify='right')
        t.add_column('Δ' if m in POINT_METRICS else 'Δ%', justify='right')
    for _, line in df.iterrows():
        cells = [f'{line["method"]} ({line["encoder"]})' if line['encoder'] else line['method'], line['dataset']]
        if show_effective:
            cells.append(_fmt(line.get('params_effective_m')))
        if show_device:
            cells.append(line.get('latency_device') or '—')
        for m in table.metrics:
            diff = line.get(f'{m}_diff', line.get(f'{m}_diff_pct'))
            v = vmap.get((line['row'], m), {})
            if v.get('verdict') == 'built-in data: no comparison':
                diff = 'built-in data'
            elif v.get('symbol') and v['symbol'] != '–':
                diff = f'{_fmt(diff, 1)} {v["symbol"]}'
            cells += [_fmt(line[m]), _fmt(line[f'{m}_published']), _fmt(diff, 1)]
        t.add_row(*cells)
    console.print(t)
    print_scorecard([scorecard(table, verdicts, tasks, store)], console)


def cmd_run(args, console) -> int:
    from .cityscapes_c import available_cpus
    from .executor import prepare_data
    table, profile, rows, store, tasks = select_tasks(args)
    todo = [t for t in tasks if not store.is_done(t.key)]
    console.print(f'[bold]{table.name}[/]: {len(tasks)} tasks, {len(tasks) - len(todo)} already done, '
                  f'{len(todo)} to run (profile {profile.name}, results in {store.root})')
    for check in prepare_data(todo, store, available_cpus()).values():  # a bad root fails here, before any job
        for line in check.warnings():
            console.print(f'[yellow]note:[/] {check.dataset} at {check.root}: {line}', highlight=False)
    check_weights(todo, args, store)  # so do missing or corrupt pretrained weights
    return _backend(args, profile).run(table, tasks, store, console,
                                       lambda: print_comparison(table, tasks, store, rows, console, profile.name))


# mmseg's own deprecation chatter, printed once per model built
_QUIET = ('``build_loss`` would be deprecated', 'Default ``avg_non_ignore`` is False',
          '`reduce_zero_label` will be deprecated', 'pkg_resources is deprecated')


def cmd_cityscapes_c(args, console) -> int:
    from .corruptions import CORRUPTIONS
    from .store import Store
    roots = _data_roots(args.data_root)
    if 'cityscapes' not in roots or not args.out:
        raise ValueError('cityscapes-c needs --data-root cityscapes=PATH (the source) and --out DIR')
    corruptions = args.corruptions or list(CORRUPTIONS)
    return _backend(args, None).cityscapes_c(roots['cityscapes'], args.out, corruptions, Store(args.runs_dir),
                                             args.cityscapes_c_protocol, console)


def cmd_report(args, console) -> int:
    from reports.render import FORMATS, render_index, render_table
    from .registry import load_registry
    from .store import Store
    formats = args.format or list(FORMATS)
    names = sorted(load_registry(args.tables)) if args.table == 'all' else [args.table]
    out_dir = os.path.abspath(args.out) if args.out else os.path.join(os.path.abspath(args.runs_dir), 'reports',
                                                                      args.profile)
    entries = []
    for name in names:
        args.table = name
        table, profile, rows, store, tasks = select_tasks(args, profile_rows=False)
        variants = {}
        if 'latency_ms' in table.metrics and not args.optimize:  # the optimized computation beside it
            optimized = argparse.Namespace(**{**vars(args), 'optimize': True})
            variants['optimized (--optimize)'] = select_tasks(optimized, profile_rows=False)[4]
        written = render_table(table, tasks, store, out_dir, profile.name, formats, args.layout, variants)
        card = written.pop('scorecard')
        measured = len({ref for t in tasks for ref in t.rows if store.is_done(t.key)})
        entries.append(dict(name=name, title=table.title, source=table.source, rows=len(table.rows),
                            measured=measured, html=f'{name}.html', scorecard=card))
        for fmt_name, path in written.items():
            console.print(f'{name}: {fmt_name:17s} {path}')
    print_scorecard([e['scorecard'] for e in entries], console)
    if not any(e['measured'] for e in entries):
        root = os.path.abspath(args.runs_dir)
        has_records = any(True for _ in Store(root).records())
        console.print(f'[yellow]note[/]: {root} holds no results for {"these tables" if len(names) > 1 else names[0]} '
                      f'(profile {args.profile}){" (it holds other records)" if has_records else ""}: the reports '
                      'show published values only. Run a table first (run-experiment TABLE), or give the runs '
                      'folder that holds them (--runs-dir)', highlight=False)
    if 'html' in formats:
        console.print(f'index: {render_index(entries, out_dir, args.profile)}')
    return 0


def check_weights(tasks, args, store) -> None:
    from .weights import check, needed_files, weights_dir
    files = [f for t in tasks if t.stage == 'train' for f in needed_files(t.cfg.model)]
    if files:
        check(files, weights_dir(store.root, args.weights_dir))


def cmd_weights(args, console) -> int:
    """weights list|fetch|verify [TABLE]: the pretrained files a table (or every table) needs."""
    from rich.table import Table as RTable
    from .registry import load_registry
    from .store import Store
    from .tasks import load_base_config
    from .weights import fetch, load_manifest, needed_files, verify_file, weights_dir
    action = args.table
    if action not in ('list', 'fetch', 'verify', 'add'):
        raise ValueError(f'weights takes list, fetch, verify or add, got {action!r}')
    manifest = load_manifest()
    folder = weights_dir(Store(args.runs_dir).root, args.weights_dir)
    if action == 'add':
        return weights_add(args, folder, console)
    registry = load_registry(args.tables)
    if args.target and args.target not in registry:
        raise ValueError(f'unknown table {args.target!r}; known tables: {", ".join(sorted(registry))}')
    names = [args.target] if args.target else sorted(registry)
    needed: Dict[str, List[str]] = {}
    for name in names:
        for row in registry[name].runnable():
            if 'train' in row.stages:
                for f in needed_files(load_base_config(row.config).model):
                    needed.setdefault(f, []).append(f'{name}/{row.id}')
    unknown = sorted(set(needed) - set(manifest))
    if unknown:
        raise ValueError(f'checkpoints not in the weights manifest: {", ".join(unknown)}')
    failed = 0
    t = RTable(title=f'pretrained weights in {folder}')
    for col in ('file', 'state', 'needed by', 'url'):
        t.add_column(col, overflow='fold')
    for f in sorted(needed):
        w = manifest[f]
        if action == 'fetch':
            try:
                state = fetch(w, folder)
            except ValueError as err:
                state = f'failed: {err}'
        else:
            state = verify_file(folder, w)
        failed += not state.startswith('ok') and action != 'list'
        users = needed[f]
        t.add_row(f, state, ', '.join(users[:3]) + (f' (+{len(users) - 3})' if len(users) > 3 else ''),
                  w.url or 'none known: place it by hand')
    console.print(t)
    return 1 if failed else 0


def weights_add(args, folder: str, console) -> int:
    from .weights import add
    if not args.target or not args.file:
        raise ValueError('usage: run-experiment weights add NAME FILE (e.g. weights add lvt ~/Downloads/lvt.pth.tar)')
    w, digest = add(args.target, args.file, folder)
    console.print(f'{w.name}: {os.path.join(folder, w.file)} registered, sha256 {digest} (in '
                  f'{os.path.join(folder, "weights.local.json")}); `weights verify` and every training check it',
                  highlight=False)
    return 0


def cmd_data(args, console) -> int:
    """data prepare DATASET ARCHIVE... | data check DATASET: a dataset root, made or checked."""
    from .cityscapes_c import available_cpus
    from .console import Progress
    from .data_check import verify
    from .data_prepare import partial_dir, prepare
    from .datasets import resolve_root_path
    from .store import Store
    root = os.path.abspath(args.root) if args.root else resolve_root_path(args.target)
    cache = os.path.join(Store(args.runs_dir).root, 'cache')
    workers = args.workers or available_cpus()
    progress = Progress(console, f'data {args.table}')
    try:
        if args.table == 'prepare':
            if not args.archives:
                raise ValueError(f'data prepare {args.target} needs the downloaded archive(s), e.g. '
                                 + ('ADEChallengeData2016.zip' if args.target == 'ade20k' else
                                    'leftImg8bit_trainvaltest.zip gtFine_trainvaltest.zip'))
            result = prepare(args.target, args.archives, root, workers, cache, args.allow_other_digest, progress,
                             say=lambda line: console.print(line, highlight=False))
            check = result.verification
            console.print(f'{result.extracted} files extracted, {result.resumed} already there (resumed), '
                          f'{result.labels} train-id labels made', highlight=False)
        else:
            if args.archives:
                raise ValueError('data check takes no archives (data prepare does)')
            builtin = os.path.exists(os.path.join(root, '.umixformer-synthetic.json'))
            check = verify(args.target, root, cache, workers, progress, expect_official=not builtin)
    finally:
        progress.close()
    print_check(check, console)
    if check.problems():
        if args.table == 'prepare':
            console.print(f'nothing was placed at {root}: the extracted files stay in {partial_dir(root)}',
                          highlight=False)
        return 1
    if args.table == 'prepare':
        console.print(f'{args.target} ready at {root}: give it as --data-root {args.target}={root}', highlight=False)
    return 0


def cmd_predict(args, console) -> int:
    """predict TABLE --rows ROW IMAGE...: overlays of one row's predictions."""
    import torch
    from .predict import predict
    if not args.rows or len(args.rows) != 1:
        raise ValueError('predict needs exactly one row: --rows ROW')
    args.stages = ['test']
    table, profile, rows, store, tasks = select_tasks(args, released=bool(args.checkpoint))
    seed = args.seeds[0] if args.seeds else None
    task = next((t for t in tasks if t.stage == 'test' and (seed is None or t.seed == seed)), None)
    if task is None:
        raise ValueError(f'{table.name}/{args.rows[0]} has no test with seed {seed}')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    out = os.path.abspath(args.out or os.path.join(store.root, 'predictions', table.name, task.row.id))
    for path in predict(task, store, args.images, out, args.checkpoint, device):
        console.print(f'{path}', highlight=False)
    console.print(f'{len(args.images)} image(s) through {table.name}/{task.row.id} '
                  f'({"--checkpoint " + args.checkpoint if args.checkpoint else f"seed {task.seed} training"}) on '
                  f'{device}; overlays and class maps in {out}', highlight=False)
    return 0


def print_check(check, console) -> None:
    from rich.table import Table as RTable
    t = RTable(title=f'{check.dataset} at {check.root}' + (' (cached check)' if check.cached else ''))
    for col in ('split', 'image/label pairs', 'official', 'images without label', 'labels without image',
                'labels out of range', 'size mismatches'):
        t.add_column(col, justify='left' if col == 'split' else 'right')
    for s in check.splits:
        t.add_row(s.split, f'{s.pairs:,}', f'{s.expected:,}' if s.expected is not None else 'built-in data',
                  *(str(len(x)) for x in (s.images_without_label, s.labels_without_image, s.bad_labels,
                                          s.size_mismatch)))
    console.print(t)
    for line in check.problems():
        console.print(f'[red]problem:[/] {line}', highlight=False)
    for line in check.warnings():
        console.print(f'[yellow]note:[/] {line}', highlight=False)


def cmd_evaluate(args, console) -> int:
    """Released checkpoints: identified, matched to rows, evaluated by the test stage."""
    import copy
    from .executor import prepare_data, run_task
    from .released import check_strict, convert_released, match_folder
    if not args.checkpoints:
        raise ValueError('evaluate needs --checkpoints DIR (a folder of released .pth files)')
    stages = args.stages or ['test']
    bad = set(stages) - {'test', 'robustness'}
    if bad:
        raise ValueError(f'evaluate runs the test and robustness stages, not {sorted(bad)}')
    args.stages = stages
    table, profile, rows, store, tasks = select_tasks(args, released=True)
    files, chosen = match_folder(table, rows, args.checkpoints)
    for m in files:
        what = (f'-> {", ".join(m.rows)} ({m.head}, sha256 {m.sha256[:12]})' if m.rows and not m.problem
                else m.problem)
        console.print(f'{os.path.relpath(m.path, args.checkpoints)}: {what}', highlight=False)
    todo = []
    for t in tasks:
        m = chosen.get(t.row.id)
        if m is None or t.stage not in stages:
            continue
        converted = convert_released(m, store.root)
        r = copy.copy(t)
        r.key = f'{t.key}-released-{m.sha256[:12]}'
        r.needs = None
        r.options = {**t.options, 'source': 'released', 'checkpoint': store.rel(converted), 'sha256': m.sha256,
                     'file': os.path.abspath(m.path)}
        check_strict(converted, r.cfg)
        todo.append(r)
    if not todo:
        console.print(f'no checkpoint to evaluate for {table.name}')
        return 1 if any(m.problem for m in files) else 0
    prepare_data(todo, store)
    failed = 0
    for r in todo:
        cmd = command_line('evaluate', argparse.Namespace(**{**vars(args), 'rows': [r.row.id], 'stages': [r.stage]}))
        rec = run_task(r, store, cmd)
        result = f'miou={rec.metrics.get("miou", rec.metrics.get("miou_corrupted")):.2f}' if rec.status == 'done' \
            else rec.error.splitlines()[0]
        console.print(f'{r.stage} {table.name}/{r.row.id} (released {os.path.basename(r.options["file"])}): '
                      f'{rec.status}, {result}; record {store.path(r.key)}', highlight=False)
        failed += rec.status != 'done'
    return 1 if failed else 0


def print_scorecard(cards, console) -> None:
    """Verdict counts per table (see analysis.verdicts)."""
    from rich.table import Table as RTable
    t = RTable(title='scorecard: reproduced (within tolerance) / within noise / off / not measured')
    for col in ('table', '✓ reproduced', '≈ within noise', '✗ off', '– not measured', 'GPU-h', 'CPU-h'):
        t.add_column(col, justify='left' if col == 'table' else 'right')
    for c in cards:
        t.add_row(c['name'], str(c['reproduced']), str(c['within_noise']), str(c['off']), str(c['not_measured']),
                  f'{c["gpu_hours"]:.2f}', f'{c["cpu_hours"]:.2f}')
    console.print(t)


def exec_task(manifest_path: str, index: int) -> int:
    """Inside a SLURM array task: re-plan entry ``index`` of the manifest and
    run it. Exit 0 done, 1 failed, 3 preempted (the batch script requeues)."""
    import json
    from .executor import run_task
    from .hooks import Preempted
    with open(manifest_path) as f:
        manifest = json.load(f)
    # the task's array index (after-its-own-prerequisite arrays are sparse)
    entry = next((e for e in manifest['entries'] if e.get('index') == index), None)
    if entry is None:
        print(f'exec-task: {manifest_path} has no entry with index {index}', file=sys.stderr)
        return 1
    args = parse_args(entry['argv'] + [x for d in entry['tables'] for x in ('--tables', d)])
    table, profile, rows, store, tasks = select_tasks(args)
    match = [t for t in tasks if t.key == entry['key']]
    if not match:
        print(f'exec-task: {entry["key"]} is no longer what {" ".join(entry["argv"])} computes '
              '(the config or table changed since submission); resubmit', file=sys.stderr)
        return 1
    from .distributed import finish, init_from_slurm
    init_from_slurm()  # a row with gpus = N: N processes under srun
    try:
        rec = run_task(match[0], store, 'run-experiment ' + ' '.join(entry['argv']))
    except Preempted:
        return 3
    finally:
        finish()
    print(f'exec-task: {rec.key}: {rec.status}')
    return 0 if rec.status == 'done' else 1


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


def main(argv: Optional[List[str]] = None) -> int:
    import warnings
    from rich.console import Console
    for msg in _QUIET:
        warnings.filterwarnings('ignore', message='.*' + msg.replace('`', '.'))
    from .archives import ArchiveError
    from .datasets import DatasetRootError
    from .backends import BackendError
    from .registry import RegistryError
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['exec-task']:
        if len(argv) != 3:
            print('usage: run-experiment exec-task MANIFEST INDEX', file=sys.stderr)
            return 2
        return exec_task(argv[1], int(argv[2]))
    if not argv:  # a first look: the tables and how to start
        console = Console()
        cmd_list(parse_args(['list']), console)
        console.print('examples:\n  run-experiment show table1\n  run-experiment table1 --profile smoke   '
                      '# built-in data, minutes on a CPU\n  run-experiment plan table1 --backend slurm --slurm-profile '
                      'slurm/profiles/example.toml\n(run-experiment COMMAND --help for the options of one)', highlight=False)
        return 0
    if argv[0] in ('-h', '--help'):
        print(__doc__.rstrip() + '\n\ncommands:')
        for name in COMMANDS:
            print(f'  {name:13s} {COMMAND_HELP[name]}')
        print('\nrun-experiment COMMAND --help lists the options of one command.')
        return 0
    args = parse_args(argv)
    args.argv = argv
    # a pipe or a log file gets wide tables rather than 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=170)
    handlers = {'list': cmd_list, 'show': cmd_show, 'plan': cmd_plan, 'status': cmd_status, 'run': cmd_run,
                'report': cmd_report, 'cityscapes-c': cmd_cityscapes_c, 'invalidate': cmd_invalidate,
                'evaluate': cmd_evaluate, 'weights': cmd_weights, 'data': cmd_data, 'predict': cmd_predict}
    import signal
    from .executor import Interrupted

    def on_term(signum, frame):
        raise Interrupted('SIGTERM')
    if args.command == 'run':
        signal.signal(signal.SIGTERM, on_term)
    if getattr(args, 'tracker', None):  # the jobs started from here log there too (not part of any key)
        from .trackers import set_requested
        set_requested(args.tracker)
    try:
        return handlers[args.command](args, console)
    except KeyboardInterrupt as err:
        name = getattr(err, 'signal_name', 'SIGINT')
        console.print(f'run-experiment: interrupted by {name}; the running task is recorded as interrupted and '
                      'the same command resumes it', highlight=False)
        return 143 if name == 'SIGTERM' else 130
    except (RegistryError, DatasetRootError, ArchiveError, BackendError, ValueError, KeyError,
            FileNotFoundError) as err:
        console.print(f'[red]run-experiment: error:[/] {err}', markup=True, highlight=False)
        return 2
    except OSError as err:  # e.g. a read-only or full runs folder: say what could not be written
        console.print(f'[red]run-experiment: error:[/] {unwritable(err, args)}', markup=True, highlight=False)
        return 2


if __name__ == '__main__':
    raise SystemExit(main())
