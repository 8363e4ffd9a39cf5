"""compare: two stores side by side, or a store's training beside a published log
(``analysis.compare``, ``analysis.logs``). Neither store is written."""
import json
import os

from analysis.compare import CompareError, compare, csv_frame, lines, read_side
from analysis.logs import compare_log, log_figure, read_log, read_run
from experiments.core.errors import UsageError
from experiments.core.files import atomic_write
from reports.render import render_comparison

EXTENSIONS = {'json': 'json', 'md': 'md', 'csv': 'csv', 'html': 'html'}
FORMATS = ('console', ) + tuple(EXTENSIONS)


def cmd_compare(args, console) -> int:
    """Exit 0: compared (differences or none); 1: nothing in common; 2: a path is not a store."""
    formats = args.format or ['console']
    if len(formats) != 1 or formats[0] not in FORMATS:
        raise UsageError(f'--format {",".join(formats)}: compare writes one of {", ".join(FORMATS)}')
    args.format = formats[0]
    try:
        a = read_side(args.a)
        if os.path.isfile(args.b):
            return _against_log(a, args, console)
        b = read_side(args.b)
    except CompareError as err:
        console.print(f'run-experiment compare: {err}', highlight=False, soft_wrap=True)
        return 2
    c = compare(a, b, args.table, args.rows, args.stages, args.tables)
    if not c.groups:
        console.print(f'nothing in common: {len(c.only_a)} record(s) only in {a.root}, {len(c.only_b)} only in '
                      f'{b.root}' + (f' (table {args.table})' if args.table else ''), highlight=False, soft_wrap=True)
        return 1
    if args.format == 'console':
        for line in lines(c, args.all):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        return 0
    if args.format == 'json':
        text = json.dumps(c.as_dict(args.all), indent=1, default=str)
    elif args.format == 'md':
        text = '\n'.join(lines(c, args.all)) + '\n'
    elif args.format == 'csv':
        text = csv_frame(c, args.all).to_csv(index=False)
    else:
        text = render_comparison(c, args.all)
    if not args.out:
        print(text, end='' if text.endswith('\n') else '\n')
        return 0
    path = os.path.join(args.out, f'compare.{EXTENSIONS[args.format]}')
    atomic_write(path, text)
    console.print(f'{args.format}: {path}', highlight=False)
    return 0


def _against_log(a, args, console) -> int:
    """The one training of RUNS_A the selection names, beside the log file."""
    trainings = sorted(((g, s), r) for (g, s), r in a.records.items() if g[2] == 'train'
                       and (args.table is None or g[0] == args.table) and (args.rows is None or g[1] in args.rows))
    keys = {r.key for _, r in trainings}
    if len(keys) != 1:
        found = ', '.join(sorted(f'{g[0]}/{g[1]} seed {s}' for (g, s), _ in trainings)[:8]) or 'none'
        raise UsageError(f'compare with a log reads one training of {a.root}: give TABLE and --rows so that one is '
                         f'chosen (found {len(keys)}: {found})')
    (group, seed), rec = trainings[0]
    try:
        theirs = read_log(args.b)
    except (OSError, ValueError) as err:
        console.print(f'run-experiment compare: {err}', highlight=False, soft_wrap=True)
        return 2
    ours = read_run(a.store.abs(rec.artifacts.get('work_dir', '')))
    result = compare_log(ours, theirs)
    console.print(f'{group[0]}/{group[1]} seed {seed} ({rec.key}) beside {args.b}:', highlight=False, soft_wrap=True)
    for line in result.lines():
        console.print(f'  {line}', highlight=False, soft_wrap=True)
    if args.out:
        png = log_figure(ours, theirs, result, f'{group[1]} ({os.path.basename(a.root)})', os.path.basename(args.b))
        atomic_write(os.path.join(args.out, 'compare-log.png'), png)
        atomic_write(os.path.join(args.out, 'compare-log.json'), json.dumps(dict(
            training=rec.key, log=os.path.abspath(args.b), iters=len(result.iters), lr_differs_at=result.lr_differs_at,
            lr_here=result.lr_ours, lr_log=result.lr_theirs, loss_leaves_band_at=result.loss_leaves_at,
            loss_here=result.loss_ours, band=result.band), indent=1))
        console.print(f'figure: {os.path.join(args.out, "compare-log.png")}', highlight=False)
    return 0
