"""A record is checked field by field when it is read: one with the right fields and
wrong types is damaged (named, set aside) and counts as missing; a NaN or infinite
metric is kept in the record but is not a value."""
import json
import os
import math

import pytest

from conftest import ROOT, TINY_TABLES
from analysis.results import read_results
from experiments.core.metrics import CATALOGUE, numeric_fields, published_metrics
from experiments.core.stages import stage_names
from experiments.engine.process.executor import run_task
from experiments.cli import main
from experiments.registry.profiles import get_profile
from experiments.registry.tables import get_table
from experiments.store import Record, Store
from experiments.planning.tasks import plan

TINY = ['--tables', TINY_TABLES, '--profile', 'tiny']


def _tasks(store, seeds=(0, )):
    table = get_table('tiny', [TINY_TABLES])
    return table, plan([table.row('umix-b0')], ['train', 'test', 'complexity'], list(seeds),
                       get_profile('tiny'), {}, store)


def _put(store, task, values, fields=None):
    rec = Record(key=task.key, stage=task.stage, status='done', config='c', config_hash=task.config_hash,
                 profile='tiny', seed=task.seed, dataset='ade20k', rows=list(task.rows), metrics=values)
    store.put(rec)
    if fields:  # written by hand, as a damaged or hand-edited file would be
        data = json.load(open(store.path(task.key)))
        data.update(fields)
        json.dump(data, open(store.path(task.key), 'w'))


def test_every_metric_the_analysis_reads_is_checked():
    for name in published_metrics():  # the stage and record field analysis reads it from, checked as a number
        assert CATALOGUE[name].stage in stage_names() and CATALOGUE[name].field in numeric_fields()


@pytest.mark.parametrize('fields,why', [
    ({'status': 7}, "field 'status' must be a string"),
    ({'status': 'finished'}, "field 'status' must be one of"),
    ({'metrics': {'gflops': 'abc'}}, "metric 'gflops' must be a number"),
    ({'metrics': {'gflops': True}}, "metric 'gflops' must be a number"),
    ({'seed': '0'}, "field 'seed' must be an integer"),
    ({'rows': 'tiny/umix-b0'}, "field 'rows' must be a list"),
    ({'artifacts': {'checkpoint': 5}}, "artifact 'checkpoint' must be a path"),
    ({'wall_time_s': None}, "field 'wall_time_s' must be a number"),
])
def test_wrong_types_are_damaged(tmp_path, capsys, fields, why):
    store = Store(str(tmp_path / 'runs'))
    _, tasks = _tasks(store)
    complexity = next(t for t in tasks if t.stage == 'complexity')
    _put(store, complexity, {'gflops': 6.0, 'params_m': 6.1, 'params_published_layout_m': 6.1}, fields)
    args = ['tiny', *TINY, '--rows', 'umix-b0', '--runs-dir', str(tmp_path / 'runs')]
    for command in ('status', 'plan', 'report'):
        assert main([command] + args) == 0
    text = ' '.join(capsys.readouterr().err.split())
    assert f'damaged record {store.path(complexity.key)}' in text and why in text, text
    assert Store(str(tmp_path / 'runs')).get(complexity.key) is None  # counts as missing: the next run recomputes
    assert len(Store(str(tmp_path / 'runs')).damaged()) == 1


def test_nan_and_inf_are_not_values(tmp_path):
    store = Store(str(tmp_path / 'runs'))
    table, tasks = _tasks(store, seeds=(0, 1, 2))
    tests = sorted((t for t in tasks if t.stage == 'test'), key=lambda t: t.seed)
    for task, miou in zip(tests, (40.0, math.nan, 42.0)):
        _put(store, task, {'miou': miou})
    complexity = next(t for t in tasks if t.stage == 'complexity')
    _put(store, complexity, {'gflops': math.inf, 'params_m': 6.1, 'params_published_layout_m': 6.1})
    v = {r['metric']: r for r in read_results(table, tasks, store, 'paper').verdict_frame().to_dict('records')
         if r['row'] == 'umix-b0'}
    assert v['miou']['n'] == 2 and v['miou']['mean'] == 41.0  # the NaN seed does not count
    assert v['gflops']['verdict'] == 'not measured'  # not "off by +inf %"
    assert v['params_m']['verdict'] == 'reproduced'


def test_a_record_names_its_config_from_the_checkout(tmp_path):
    """A record's ``config`` is the config file's path from the checkout (where its git
    revision is read), e.g. experiments/configs/...: a path that exists there."""
    table = get_table('tiny', [TINY_TABLES])
    (task, ) = plan([table.row('umix-b0')], ['complexity'], None, get_profile('tiny'), {}, Store(str(tmp_path)))
    rec = run_task(task, Store(str(tmp_path)), 'test')
    assert rec.status == 'done' and rec.config == 'experiments/configs/umixformer/' + os.path.basename(task.row.config)
    assert os.path.isfile(os.path.join(ROOT, rec.config))
