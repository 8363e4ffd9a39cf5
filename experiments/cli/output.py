"""What several commands print: the comparison with the paper, the scorecard, a data check."""
from rich.table import Table as RTable

from analysis.results import TableResults
from analysis.verdicts import Verdict, difference
from experiments.core.metrics import beside, fmt, metric


def dash(value, digits: int = 2) -> str:
    """A number for the console; a missing one is a dash, never 0."""
    return fmt(value, digits, empty='—')


def print_comparison(results: TableResults, rows, console) -> None:
    """The table's cells (``analysis.results``) against the paper, then its scorecard."""
    table = results.table
    rows = rows or table.rows
    t = RTable(title=f'{table.title}: reproduced vs published ({table.source})')
    for col in ('row', 'dataset'):
        t.add_column(col)
    shown_beside = beside(table.metrics)
    for b in shown_beside:  # what this implementation builds, beside the published-layout count
        t.add_column(b.name, justify='right')
    # a timing belongs to the device it ran on: the devices of the stages whose metrics are timed
    timed = list(results.device_columns().values())
    for _ in timed:
        t.add_column('timed on', overflow='fold')
    for m in table.metrics:
        t.add_column(m, justify='right')
        t.add_column('paper', justify='right')
        t.add_column(metric(m).diff_label, justify='right')
    for row in rows:
        line = results.line(row)
        out = [f'{row.method} ({row.encoder})' if row.encoder else row.method, row.dataset]
        out += [dash(line.get(b.name)) for b in shown_beside]
        out += [line.get(device) or '—' for device in timed]
        for m in table.metrics:
            c = results.cell(row, m)
            diff = dash(difference(m, c.value, c.published), 1)
            if c.verdict is Verdict.BUILTIN_DATA:
                diff = 'built-in data'
            elif c.symbol and c.symbol != '–':
                diff = f'{diff} {c.symbol}'
            at = results.measured_at(row, m) if c.n else ''
            out += [dash(c.value) + (f' at {at}' if at else ''), dash(c.published), diff]
        t.add_row(*out)
    console.print(t)
    for row, words in results.unlike_paper(rows):  # why a value may be off: how its run differs
        console.print(f'{row.id}: {words}', highlight=False, soft_wrap=True)
    print_scorecard([results.scorecard()], console)


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
