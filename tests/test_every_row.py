"""Every runnable row of every built-in table runs through the suite's own stages, as the
`check` profile runs them (`run-experiment TABLE --profile check`): the row's config,
optimizer, parameter groups and pipelines (scaled as the profile scales them), two
training iterations and a checkpoint, validation and test, the complexity count, the
latency stage and Cityscapes-C robustness where the row has them. A row that fails here
would fail on the cluster after its hours in the queue; the failure names the table, the
row and the stage. One store for the tables that share trainings (Table 1 and those that
read its rows); Table 2 shares none and runs in its own file and store
(``test_every_row_table2.py``), beside this one under pytest-xdist. The check profile
removes each checkpoint once its tests have read it: the store never holds more than a
row's weights."""
import os
import shutil

import pytest

from experiments.cli import main
from experiments.planning.options import PlanOptions
from experiments.planning.select import select
from experiments.registry.tables import load_registry
from experiments.store import Store

# robustness, then table1: the robustness table reads three of table1's Cityscapes trainings
# with a stage table1 has not (a checkpoint is removed once the run's readers are done: the
# other order trains them again); the ablation and latency tables read only what table1's
# run computed already. table2 shares nothing with them: its own file
OWN_FILE = ('table2', )
FIRST = ('robustness', 'table1')
TABLES = sorted((t for t in load_registry() if t not in OWN_FILE),
                key=lambda name: (FIRST.index(name) if name in FIRST else len(FIRST), name))


@pytest.fixture(scope='module')
def store(tmp_path_factory):
    runs = tmp_path_factory.mktemp('every-row')
    # the latency stage on the built-in images: one warm-up, two timed (as `make demo`)
    old = {k: os.environ.get(k) for k in ('UMIX_LATENCY_WARMUP', 'UMIX_LATENCY_IMAGES')}
    os.environ.update(UMIX_LATENCY_WARMUP='1', UMIX_LATENCY_IMAGES='2')
    yield str(runs)
    for k, v in old.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    shutil.rmtree(runs, ignore_errors=True)


@pytest.mark.parametrize('table', TABLES)
def test_every_row_runs_every_stage(store, table, capsys):
    every_row_runs_every_stage(store, table, capsys)


def every_row_runs_every_stage(store: str, table: str, capsys) -> None:
    rc = main([table, '--profile', 'check', '--runs-dir', store])
    out = capsys.readouterr().out
    tasks = select(PlanOptions(table=table, profile='check', runs_dir=store)).tasks
    assert tasks, f'{table}: no runnable row'
    results = Store(store)
    failed = []
    for task in tasks:
        rec = results.get(task.key)
        if rec is None or rec.status != 'done':
            why = (rec.error.strip().splitlines() or ['?'])[-1] if rec and rec.error else 'not run (its input failed)'
            failed.extend(f'{row} {task.stage}: {why}' for row in task.rows)
    assert not failed, f'{len(failed)} row stage(s) failed:\n' + '\n'.join(failed) + '\n' + out[-3000:]
    assert rc == 0, out[-3000:]
