"""report: HTML, LaTeX and CSV of a table (or all) against the paper."""
import argparse
import os

from analysis.compare import CompareError, means, read_side
from analysis.results import TableResults, read_results
from experiments.cli.output import print_scorecard
from experiments.cli.selection import select_tasks
from experiments.core.errors import UsageError
from experiments.core.stages import stage_spec
from experiments.planning.options import option_table
from experiments.registry.tables import load_registry
from experiments.store import Store
from reports.render import FORMATS, render_index, render_table


def with_variants(results: TableResults, args) -> TableResults:
    """The results with the other computations its stages draw beside a report of the
    default one (``StageSpec.report_variants``, e.g. the optimized latency): each read
    once, like the table's own."""
    defaults = {opt.name: opt.default for opt in option_table()}
    for stage in results.stages():
        variants = stage_spec(stage).report_variants
        if any(getattr(args, k, defaults[k]) != defaults[k] for change in variants.values() for k in change):
            continue  # a report of another computation than the default: that one alone
        for label, change in variants.items():
            other = select_tasks(argparse.Namespace(**{**vars(args), **change}), profile_rows=False)
            results.variants[label] = read_results(other.table, other.tasks, other.store, other.profile.name)
    return results


def report_one(args, out_dir: str, formats, console, against=None) -> dict:
    """Writes one table's reports (``against``: another store's values beside them); returns
    its entry of the index."""
    table, profile, rows, store, tasks = select_tasks(args, profile_rows=False)
    results = with_variants(read_results(table, tasks, store, profile.name), args)
    if against is not None:
        results.against, results.against_label = means(against, table.name, profile.name), f'B ({against.root})'
    written = render_table(results, out_dir, formats, args.layout)
    card, measured = written.pop('scorecard'), written.pop('measured')
    for fmt_name, path in written.items():
        console.print(f'{table.name}: {fmt_name:17s} {path}')
    return dict(name=table.name, title=table.title, source=table.source, rows=len(table.rows), measured=measured,
                html=f'{table.name}.html', scorecard=card)


def cmd_report(args, console) -> int:
    formats = args.format or list(FORMATS)
    names = sorted(load_registry(args.tables)) if args.table == 'all' else [args.table]
    out_dir = os.path.abspath(args.out) if args.out else os.path.join(os.path.abspath(args.runs_dir), 'reports',
                                                                      args.profile)
    try:
        against = read_side(args.against) if args.against else None  # read only
    except CompareError as err:
        raise UsageError(f'--against: {err}') from None
    entries = [report_one(argparse.Namespace(**{**vars(args), 'table': name}), out_dir, formats, console, against)
               for name in names]
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
