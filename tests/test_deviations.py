"""How a run differs from the paper's, per record (analysis.deviations): each difference a
fact with both values, said beside every ✗ and ≈ of the console comparison, in status, in
the HTML and LaTeX reports; latency values state the input they were measured at; the
released checkpoint tells where a gap lies."""
import dataclasses
import io

from rich.console import Console

from analysis.deviations import deviations, in_words
from analysis.results import read_results
from experiments.cli import main
from experiments.cli.output import print_comparison
from experiments.engine.process.executor import new_record, prepare_data
from experiments.planning.options import PlanOptions
from experiments.planning.select import select
from experiments.registry.tables import get_table
from experiments.store import DONE, Store
from reports.render import render_table

ROW = 'umixformer_mit-b0_ade20k'


def _done(task, store, **metrics):
    """The record the run of ``task`` writes, done with ``metrics`` (its recipe read from the
    task's resolved config and data as a run reads them)."""
    rec = new_record(task, DONE, 'test', store)
    rec.metrics = metrics
    store.put(rec)
    return rec


def _tasks(runs, profile, stages, rows=(ROW, ), table='table1', **settings):
    return select(PlanOptions(table=table, rows=rows, stages=stages, profile=profile, runs_dir=str(runs),
                              settings=settings)).tasks


def test_a_smoke_record_names_each_way_it_differs(tmp_path):
    store = Store(str(tmp_path))
    tasks = _tasks(tmp_path, 'smoke', ('train', 'test'))
    prepare_data(tasks, store)  # the built-in data, as a run generates it
    test = _done(next(t for t in tasks if t.stage == 'test'), store, miou=12.0)
    devs = {d.name: d for d in deviations(test, get_table('table1').row(ROW))}
    assert devs['data'].run.startswith('built-in synthetic') and devs['data'].paper == '20,210/2,000 train/val pairs'
    assert (devs['iterations'].run, devs['iterations'].paper) == ('320', '160,000')
    assert (devs['crop'].run, devs['crop'].paper) == ('128x128', '512x512')
    assert (devs['batch_per_gpu'].run, devs['batch_per_gpu'].paper) == ('8', '16')
    assert devs['pretrained'].run == 'none (from scratch)' and devs['pretrained'].paper.startswith('mit_b0_')
    assert 'global batch 16 or 32 (UNKNOWN which)' in devs['global_batch'].paper
    assert devs['torch'].kind == 'environment' and devs['torch'].paper == '1.13.0'
    words = in_words(list(devs.values()))
    assert words.startswith("differs from the paper's recipe in: data built-in synthetic")
    assert 'iterations 320 (paper 160,000)' in words and 'encoder weights none (from scratch)' in words


def test_a_paper_run_on_one_gpu_names_the_global_batch_and_nothing_else(tmp_path):
    store = Store(str(tmp_path))
    task = _tasks(tmp_path, 'paper', ('train', ))[0]
    rec = _done(task, store, iters=160000)
    devs = deviations(rec, get_table('table1').row(ROW))
    recipe = [d for d in devs if d.kind == 'recipe']
    assert [d.name for d in recipe] == ['global_batch']
    assert str(recipe[0]) == ('GPUs and global batch 1 process(es), global batch 16 '
                              '(paper 2 A100, global batch 16 or 32 (UNKNOWN which))')
    assert 'README' in recipe[0].source
    # on 2 processes as the README's 2 A100: nothing said of the batch, "the paper's recipe"
    two = dataclasses.replace(task.row, gpus=2)
    rec2 = _done(dataclasses.replace(task, row=two, key=task.key + 'x2'), store, iters=160000)
    assert in_words([d for d in deviations(rec2, two) if d.kind == 'recipe']) == "the paper's recipe"
    # an option that changed the key is a deviation
    compiled = new_record(_tasks(tmp_path, 'paper', ('train', ), train_compile='inductor')[0], DONE, 'test', store)
    assert any(d.name == 'option:train_compile' and d.run == 'inductor' for d in deviations(compiled, task.row))


def test_an_off_value_carries_its_deviations_everywhere(tmp_path):
    store = Store(str(tmp_path))
    tasks = _tasks(tmp_path, 'paper', ('train', 'test'))
    _done(tasks[0], store, iters=160000)
    _done(tasks[1], store, miou=30.0)  # published 41.2: off
    table = get_table('table1')
    results = read_results(table, tasks, store)
    assert results.cell(table.row(ROW), 'miou').symbol == '✗'
    out = io.StringIO()
    print_comparison(results, [table.row(ROW)], Console(file=out, width=250))
    line = next(l for l in out.getvalue().splitlines() if l.startswith(f'{ROW}: '))
    assert "differs from the paper's recipe in: GPUs and global batch 1 process(es)" in line
    assert 'environment: torch' in line
    files = render_table(results, str(tmp_path / 'report'), ('html', 'latex'))
    html = open(files['html']).read()
    assert 'the run differs from the paper&#39;s recipe in: GPUs and global batch' in html  # the tooltip
    assert "Against the paper's run: differs from its recipe in:" in html.replace('&#39;', "'")
    tex = open(files['latex']).read()
    assert '$^{1}$' in tex and 'umixformer\\_mit-b0\\_ade20k: differs from the paper' in tex


def test_status_says_how_a_done_record_differs(tmp_path, capsys):
    store = Store(str(tmp_path))
    tasks = _tasks(tmp_path, 'smoke', ('train', ))
    prepare_data(tasks, store)
    _done(tasks[0], store, iters=320, final_loss=0.5)
    assert main(['status', 'table1', '--rows', ROW, '--stages', 'train', '--profile', 'smoke',
                 '--runs-dir', str(tmp_path)]) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert "differs from the paper's recipe in: data, iterations, batch per GPU, crop, learning rate, " \
           "encoder weights, classes, GPUs and global batch" in out


def test_released_checkpoint_says_where_the_gap_is(tmp_path):
    store = Store(str(tmp_path))
    tasks = _tasks(tmp_path, 'paper', ('train', 'test'))
    _done(tasks[0], store, iters=160000)
    _done(tasks[1], store, miou=38.0)
    table = get_table('table1')
    row = table.row(ROW)
    results = read_results(table, tasks, store)
    results.released[(f'table1/{ROW}', 'test')] = [dataclasses.replace(store.get(tasks[1].key), metrics={'miou': 41.3})]
    results._cells.clear()
    assert results.attribution(row, 'miou').startswith('the gap is in training: miou 38.00 trained, 41.30 from the '
                                                       'released checkpoint (paper 41.2)')
    results.released[(f'table1/{ROW}', 'test')] = [dataclasses.replace(store.get(tasks[1].key), metrics={'miou': 38.4})]
    results._cells.clear()
    assert results.attribution(row, 'miou').startswith('the data or the evaluation differs from the paper\'s')
    assert 'the data or the evaluation differs' in results.unlike_paper([row])[0][1]


def test_latency_values_state_their_input_size(tmp_path):
    store = Store(str(tmp_path))
    tasks = _tasks(tmp_path, 'smoke', ('latency', ), rows=('umixformer_mit-b0_cityscapes', ), table='latency')
    _done(tasks[0], store, latency_ms=150.0, fps=6.7, input_hw=[[128, 256]])
    table = get_table('latency')
    results = read_results(table, tasks, store)
    out = io.StringIO()
    print_comparison(results, None, Console(file=out, width=250))
    assert '150.00 at 256x128' in out.getvalue() and '6.70 at 256x128' in out.getvalue()
    assert results.frame()['latency_ms_at'].tolist()[-1] == '256x128'  # the CSV and the chart's labels
    files = render_table(results, str(tmp_path / 'report'), ('html', 'latex'))
    assert 'at 256x128' in open(files['html']).read()
    assert 'at 256x128' in open(files['latex']).read()
    # at the paper's 2048x1024: nothing said
    other = Store(str(tmp_path / 'other'))
    _done(tasks[0], other, latency_ms=150.0, fps=6.7, input_hw=[[1024, 2048]])
    assert read_results(table, tasks, other).measured_at(table.row('umixformer_mit-b0_cityscapes'), 'latency_ms') == ''


def test_the_check_profile_is_never_judged(tmp_path):
    store = Store(str(tmp_path))
    tasks = _tasks(tmp_path, 'check', ('train', 'test'))
    prepare_data(tasks, store)
    _done(tasks[0], store, iters=2)
    _done(tasks[1], store, miou=41.2)  # the published value itself: still not "reproduced"
    table = get_table('table1')
    cell = read_results(table, tasks, store).cell(table.row(ROW), 'miou')
    assert cell.symbol not in ('✓', '✗', '≈')
