"""What several commands print: the comparison with the paper, the scorecard, a data check."""
from rich.table import Table as RTable

from analysis.results import EFFECTIVE_PARAMS, read_results
from analysis.verdicts import Verdict, scorecard
from experiments.core.metrics import fmt, metric


def dash(value, digits: int = 2) -> str:
    """A number for the console; a missing one is a dash, never 0."""
    return fmt(value, digits, empty='—')


def print_comparison(table, tasks, store, rows, console, profile: str = 'paper') -> None:
    """The table's cells (``analysis.results``) against the paper, then its scorecard."""
    results = read_results(table, tasks, store, profile)
    cells = results.cells(rows)
    frame = results.frame(rows)
    t = RTable(title=f'{table.title}: reproduced vs published ({table.source})')
    for col in ('row', 'dataset'):
        t.add_column(col)
    show_effective = 'params_m' in table.metrics
    if show_effective:  # what this implementation builds, beside the published-layout count
        t.add_column(EFFECTIVE_PARAMS, justify='right')
    show_device = bool({'latency_ms', 'fps'} & set(table.metrics))
    if show_device:  # a timing belongs to the device it ran on
        t.add_column('timed on', overflow='fold')
    for m in table.metrics:
        t.add_column(m, justify='right')
        t.add_column('paper', justify='right')
        t.add_column(metric(m).diff_label, justify='right')
    for row, (_, line) in zip(rows or table.rows, frame.iterrows()):
        out = [f'{row.method} ({row.encoder})' if row.encoder else row.method, row.dataset]
        if show_effective:
            out.append(dash(line.get(EFFECTIVE_PARAMS)))
        if show_device:
            out.append(line.get('latency_device') or '—')
        for m in table.metrics:
            c = cells[(row.id, m)]
            diff = dash(line.get(f'{m}_diff', line.get(f'{m}_diff_pct')), 1)
            if c.verdict is Verdict.BUILTIN_DATA:
                diff = 'built-in data'
            elif c.symbol and c.symbol != '–':
                diff = f'{diff} {c.symbol}'
            out += [dash(c.value), dash(c.published), diff]
        t.add_row(*out)
    console.print(t)
    print_scorecard([scorecard(table, results.verdict_frame(), tasks, results.records)], console)


def print_scorecard(cards, console) -> None:
    """Verdict counts per table (see analysis.verdicts)."""
    t = RTable(title='scorecard: reproduced (within tolerance) / within noise / off / not measured')
    for col in ('table', '✓ reproduced', '≈ within noise', '✗ off', '– not measured', 'GPU-h', 'CPU-h'):
        t.add_column(col, justify='left' if col == 'table' else 'right')
    for c in cards:
        t.add_row(c['name'], str(c['reproduced']), str(c['within_noise']), str(c['off']), str(c['not_measured']),
                  f'{c["gpu_hours"]:.2f}', f'{c["cpu_hours"]:.2f}')
    console.print(t)


def print_check(check, console) -> None:
    """A dataset root's check (``experiments.data.check``), split by split."""
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
