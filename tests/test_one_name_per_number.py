"""One name per number: what `status` says of a record, the console's comparison with the
paper and the report's CSV show the same value under the same name, for every value of a
store like the demo's (a training and its test, every Table 1 row's complexity). The
effective parameter count is ``params_effective_m`` everywhere; ``params_m`` is the paper's
(published-layout) count everywhere."""
import csv
import io
import re
import shutil

import pytest
from rich.console import Console

from analysis.results import read_results
from experiments.backends.status import task_statuses
from experiments.cli import main
from experiments.cli.output import print_comparison
from experiments.cli.parser import parse_args
from experiments.cli.selection import select_tasks
from experiments.core.metrics import CATALOGUE, fmt

from conftest import TINY_TABLES


def _console_cells(table, tasks, store, rows):
    """(row id, column) -> text of the console's comparison table."""
    out = io.StringIO()
    print_comparison(read_results(table, tasks, store, 'paper'), rows, Console(file=out, width=400))
    lines = out.getvalue().splitlines()
    head = next(l for l in lines if l.startswith('┃ row'))
    names = [c.strip() for c in head.strip('┃').split('┃')]
    body = [l for l in lines if l.startswith('│')][:len(rows)]
    cells = {}
    for row, line in zip(rows, body):
        values = [c.strip() for c in line.strip('│').split('│')]
        for name, value in zip(names, values):
            if name not in cells.get(row.id, {}):  # the first of a name: the value (then 'paper', Δ)
                cells.setdefault(row.id, {})[name] = re.sub(r' [✓≈✗]$', '', value)
    return cells


def _shown(argv, report_dir):
    args = parse_args(argv)
    table, profile, rows, store, tasks = select_tasks(args, profile_rows=False)
    status = {}
    for s in task_statuses(tasks, store, ''):
        for name, value in re.findall(r'(\w+)=(-?[\d.]+)', s.result):
            for ref in s.task.rows:
                status.setdefault(ref.split('/', 1)[1], {})[name] = value
    console = _console_cells(table, tasks, store, table.rows)
    assert main(['report'] + argv[1:] + ['--format', 'csv', '--out', str(report_dir)]) == 0
    report = {line['row']: line for line in csv.DictReader(open(report_dir / f'{table.name}.csv'))}
    return table, status, console, report


def _compare(table, status, console, report):
    compared = 0
    for row in table.rows:
        for name, value in status.get(row.id, {}).items():
            if name in console.get(row.id, {}):
                assert console[row.id][name] == value, (row.id, name, 'status', value, 'console', console[row.id][name])
                compared += 1
            if name in report.get(row.id, {}):
                assert fmt(float(report[row.id][name])) == value, (row.id, name, 'status', value, 'report')
                compared += 1
        for name, value in console.get(row.id, {}).items():  # what the console shows is the report's
            if name in CATALOGUE and name in report.get(row.id, {}) and value not in ('—', ''):
                assert fmt(float(report[row.id][name])) == value, (row.id, name)
    return compared


@pytest.fixture(scope='module')
def stores(tiny_trained, tmp_path_factory):
    base = tmp_path_factory.mktemp('names')
    runs = base / 'runs'
    shutil.copytree(tiny_trained[0], runs)
    data = ['--data-root', f'ade20k={tiny_trained[1]}']
    assert main(['tiny', '--tables', TINY_TABLES, '--profile', 'tiny', '--rows', 'umix-b0', '--stages', 'complexity',
                 '--runs-dir', str(runs)] + data) == 0
    assert main(['table1', '--profile', 'smoke', '--stages', 'complexity', '--runs-dir', str(runs)]) == 0
    return base, runs, data


def test_status_console_and_report_agree_on_a_trained_row(stores):
    base, runs, data = stores
    (base / 'tiny').mkdir()
    table, status, console, report = _shown(['status', 'tiny', '--tables', TINY_TABLES, '--profile', 'tiny',
                                             '--runs-dir', str(runs)] + data, base / 'tiny')
    shown = status['umix-b0']
    assert {'miou', 'params_m', 'params_effective_m', 'gflops', 'final_loss'} <= set(shown)
    assert float(shown['params_m']) == pytest.approx(6.14, abs=0.01)  # the paper's layout (published 6.1)
    assert float(shown['params_effective_m']) == pytest.approx(5.04, abs=0.01)  # what is built
    assert _compare(table, status, console, report) >= 7


def test_status_console_and_report_agree_on_every_table1_row(stores):
    base, runs, _ = stores
    (base / 'table1').mkdir()
    table, status, console, report = _shown(['status', 'table1', '--profile', 'smoke', '--stages', 'complexity',
                                             '--runs-dir', str(runs)], base / 'table1')
    measured = [r for r in table.rows if not r.cited]
    assert all({'params_m', 'params_effective_m', 'gflops'} <= set(status[r.id]) for r in measured)
    assert _compare(table, status, console, report) >= 5 * len(measured)
