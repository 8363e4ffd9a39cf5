"""A results store that is never silently wrong: keys hold what a number depends on,
a moved store keeps its records, one process computes a record at a time, dead runs
are seen as stale, damaged files are moved aside, invalidation keeps history, bad
input fails before anything runs."""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import DATA_DIR, ROOT
from experiments.cli import main
from experiments.store.lease import Lease
from experiments.registry.profiles import get_profile
from experiments.registry.schema import RegistryError
from experiments.registry.tables import get_table, load_registry, load_table
from experiments.store import Record, Store
from experiments.planning.tasks import plan

TABLES = os.path.join(DATA_DIR, 'tables')
CLI = [sys.executable, '-m', 'experiments.cli']
TINY = ['--tables', TABLES, '--profile', 'tiny']


def _write_table(folder, name, rows, extra=''):
    folder.mkdir(parents=True, exist_ok=True)
    body = f'name = "{name}"\ntitle = "{name}"\n{extra}\n'
    for r in rows:
        body += '[[rows]]\n' + ''.join(f'{k} = {json.dumps(v) if not isinstance(v, list) else json.dumps(v)}\n'
                                       for k, v in r.items())
    (folder / f'{name}.toml').write_text(body)
    return folder


B0_ADE = 'umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py'


def test_complexity_key_holds_the_input_size(tmp_path):
    """An ADE20K config measured as a Cityscapes row (2048x1024) must not share the
    key of Table 1's ADE20K row (512x512)."""
    d = _write_table(tmp_path / 't', 'mine', [dict(id='b0-city', method='U', dataset='cityscapes', config=B0_ADE,
                                                    stages=['complexity'])])
    store = Store(str(tmp_path / 'runs'))
    mine = load_table(str(d / 'mine.toml'))
    t1 = get_table('table1')
    (a, ) = plan(mine.rows, None, None, get_profile('paper'), {}, store)
    (b, ) = plan([t1.row('umixformer_mit-b0_ade20k')], ['complexity'], None, get_profile('paper'), {}, store)
    assert a.key != b.key
    import experiments.planning.tasks as tasks
    old = tasks.KEY_VERSION
    try:  # a new key scheme never reuses records written under the old one
        tasks.KEY_VERSION = old + 1
        (c, ) = plan([t1.row('umixformer_mit-b0_ade20k')], ['complexity'], None, get_profile('paper'), {}, store)
    finally:
        tasks.KEY_VERSION = old
    assert c.key != b.key


@pytest.fixture(scope='module')
def trained(tiny_trained):
    return tiny_trained


def _plan_todo(runs, data, tables=TABLES):
    table = get_table('tiny', [tables])
    store = Store(str(runs))
    tasks = plan([table.row('umix-b0')], ['train', 'test'], None, get_profile('tiny'),
                 {'ade20k': data}, store)
    return [t for t in tasks if not store.is_done(t.key)], tasks, store


def test_moved_store_and_data_plan_nothing(trained, tmp_path, capsys):
    runs, data = trained
    new_runs, new_data = tmp_path / 'elsewhere' / 'runs', str(tmp_path / 'mnt' / 'ade')
    os.makedirs(os.path.dirname(new_data))
    shutil.copytree(runs, new_runs, symlinks=True)
    os.symlink(data, new_data)  # a remounted / symlinked copy of the same files
    todo, tasks, store = _plan_todo(new_runs, new_data)
    assert todo == [] and len(tasks) == 2
    train = store.get(next(t.key for t in tasks if t.stage == 'train'))
    assert not os.path.isabs(train.artifacts['checkpoint'])  # paths are relative to the runs folder
    assert os.path.exists(store.abs(train.artifacts['checkpoint']))
    # a test recomputed in the moved store reads the moved checkpoint
    test_key = next(t.key for t in tasks if t.stage == 'test')
    store.retire(test_key)
    assert main(['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'test', '--data-root', f'ade20k={new_data}',
                 '--runs-dir', str(new_runs)]) == 0
    assert store.get(test_key).status == 'done'
    # other files are another dataset
    other = tmp_path / 'other'
    shutil.copytree(data, other)
    os.remove(next(os.path.join(d, f) for d, _, fs in os.walk(other / 'images' / 'validation') for f in fs))
    todo, _, _ = _plan_todo(new_runs, str(other))
    assert len(todo) == 2


def test_damaged_records_are_moved_aside(trained, tmp_path, capsys):
    runs, data = trained
    runs2 = tmp_path / 'damaged-runs'
    shutil.copytree(runs, runs2, symlinks=True)
    store = Store(str(runs2))
    keys = sorted(r.key for r in store.records())
    with open(store.path(keys[0]), 'w') as f:
        f.write('{"key": "tru')  # truncated
    with open(store.path(keys[1]), 'w') as f:
        json.dump(['not', 'a', 'record'], f)
    args = ['tiny', *TINY, '--rows', 'umix-b0', '--data-root', f'ade20k={data}', '--runs-dir', str(runs2)]
    assert main(['status'] + args) == 0
    out = capsys.readouterr()
    assert f'damaged record {store.path(keys[0])}' in out.err + out.out
    damaged = Store(str(runs2)).damaged()
    assert len(damaged) == 2 and all('records/damaged/' in p for p in damaged)
    assert main(['plan'] + args) == 0 and main(['report'] + args[:1] + args[1:]) == 0


def test_missing_checkpoint_is_flagged_and_invalidated(trained, tmp_path, capsys):
    runs, data = trained
    runs3 = tmp_path / 'gone-runs'
    shutil.copytree(runs, runs3, symlinks=True)
    store = Store(str(runs3))
    train = next(r for r in store.records() if r.stage == 'train')
    os.remove(store.abs(train.artifacts['checkpoint']))
    args = ['tiny', *TINY, '--rows', 'umix-b0', '--data-root', f'ade20k={data}', '--runs-dir', str(runs3)]
    capsys.readouterr()
    assert main(['status'] + args) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert 'is gone' in out and 'invalidate' in out
    assert main(['invalidate'] + args + ['--stages', 'train']) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert 'invalidated train/' in out and '(computed from it)' in out  # the test read that training
    assert store.get(train.key) is None
    history = [f for _, _, fs in os.walk(runs3 / 'records' / 'history') for f in fs]
    assert len(history) == 2  # kept, never lost


def test_two_processes_one_training(tmp_path):
    """Two identical commands on a fresh store: exactly one trains, the other names
    the lease holder and exits 0; built-in data generation is safe for both."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    cmd = CLI + ['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'train', '--runs-dir', str(tmp_path)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    skipped = [o for o in outs if 'being computed by pid' in o]
    assert len(skipped) == 1, outs
    assert 'on host' in skipped[0] and 'since' in skipped[0]
    (rec, ) = [r for r in Store(str(tmp_path)).records()]
    assert rec.status == 'done' and rec.metrics['iters'] == 60
    assert not os.listdir(tmp_path / 'leases' / 'train')  # released
    # the second one could also wait for the first one's result
    assert main(['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'train', '--runs-dir', str(tmp_path),
                 '--wait']) == 0


def test_kill_9_of_one_of_two_runs_loses_nothing(tmp_path, capsys):
    """Two runs on one store: A trains, B waits for it (--wait). A is killed with SIGKILL
    (no handler runs, its record stays 'running'): B sees the holder gone, takes the
    training over and resumes from A's last checkpoint (the iterations A made are not made
    again); a rerun afterwards computes nothing."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    cmd = CLI + ['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'train', '--runs-dir', str(tmp_path)]
    logs = [open(tmp_path / f'log-{n}', 'w') for n in 'ab']
    a = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logs[0], stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    leases = tmp_path / 'leases' / 'train'
    while time.time() < deadline and not (leases.exists() and any(leases.iterdir())):  # A holds the training
        time.sleep(0.05)
    b = subprocess.Popen(cmd + ['--wait'], cwd=ROOT, env=env, stdout=logs[1], stderr=subprocess.STDOUT)
    try:
        while time.time() < deadline and not list((tmp_path / 'work').glob('train/*/iter_*.pth')):
            time.sleep(0.05)
        assert a.poll() is None, 'A ended before the kill'
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=60)
        assert b.wait(timeout=600) == 0, (tmp_path / 'log-b').read_text()[-3000:]
    finally:
        for p in (a, b):
            p.kill()
    (rec, ) = Store(str(tmp_path)).records()
    assert rec.status == 'done' and rec.metrics['iters'] == 60
    assert rec.resumed_from and os.path.basename(rec.resumed_from).startswith('iter_')  # A's checkpoint
    assert int(os.path.basename(rec.resumed_from)[5:-4]) >= 10
    capsys.readouterr()
    assert main(['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'train', '--runs-dir', str(tmp_path)]) == 0
    assert '1 already done, 0 to run' in ' '.join(capsys.readouterr().out.split())


def test_lease_takeover_and_contention(tmp_path):
    a = Lease(str(tmp_path), 'train/x')
    assert a.acquire() is None
    b = Lease(str(tmp_path), 'train/x')
    holder = b.try_acquire()
    assert holder is not None and holder.pid == os.getpid()
    a.release()
    assert b.try_acquire() is None
    # a dead holder on this host is stale at once; a rerun takes the lease over
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    info = json.load(open(b.path))
    info.update(pid=dead.pid, token='dead')
    json.dump(info, open(b.path, 'w'))
    c = Lease(str(tmp_path), 'train/x')
    assert c.is_stale(c.holder()) and c.try_acquire() is None and c.holder().token == c.token


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_write_an_interrupted_record(tmp_path, signum, capsys):
    """SIGTERM (scancel, kill) and SIGHUP (the terminal closed, an ssh session dropped)."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    cmd = CLI + ['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'train', '--runs-dir', str(tmp_path)]
    log = open(tmp_path / 'log', 'w')  # a pipe nobody reads would fill up and block the run
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while time.time() < deadline and not any('last_checkpoint' in fs for _, _, fs in os.walk(tmp_path / 'work')):
        time.sleep(0.05)
    assert proc.poll() is None, 'training ended before the signal'
    proc.send_signal(signum)
    proc.wait(timeout=120)
    out = (tmp_path / 'log').read_text()
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, out[-2000:]
    assert f'interrupted by {name}' in out and 'Traceback' not in out
    (rec, ) = Store(str(tmp_path)).records()
    assert rec.status == 'interrupted' and rec.error == f'interrupted by {name}'
    assert not os.listdir(tmp_path / 'leases' / 'train')
    # status says what stopped it and that the same command resumes it
    assert main(['status', 'tiny', *TINY, '--rows', 'umix-b0', '--stages', 'train', '--runs-dir', str(tmp_path)]) == 0
    said = ' '.join(capsys.readouterr().out.split())
    assert f'interrupted by {name}; the same run command resumes it' in said


@pytest.mark.parametrize('argv,message', [
    (['--rows', ''], '--rows is empty'),
    (['--stages', ''], '--stages is empty'),
    (['--seeds', '-1'], 'seed -1 is out of range'),
    (['--seeds', str(2**40)], 'out of range'),
])
def test_bad_arguments_fail_before_anything_runs(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(['tiny', *TINY, '--runs-dir', str(tmp_path / 'runs')] + argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / 'runs').exists()


def test_bad_folders_and_tables(tmp_path, capsys):
    afile = tmp_path / 'file'
    afile.write_text('x')
    assert main(['plan', 'tiny', *TINY, '--runs-dir', str(afile)]) == 2
    assert 'is a file, not a folder' in capsys.readouterr().out
    assert main(['list', '--tables', os.path.join(TABLES, 'tiny.toml')]) == 2
    assert 'take folders of table files' in ' '.join(capsys.readouterr().out.split())
    assert main(['list', '--tables', TABLES, '--tables', TABLES + '/']) == 0  # the same folder twice
    for value in ('0', '-3.5', 'nan', 'inf'):
        d = _write_table(tmp_path / f'pub{value}', 'p', [dict(id='r', method='U', dataset='ade20k', config=B0_ADE,
                                                               stages=['complexity'])])
        text = (d / 'p.toml').read_text().replace('stages =', f'published = {{ miou = {value} }}\nstages =')
        (d / 'p.toml').write_text(text)
        with pytest.raises(RegistryError, match='never write 0'):
            load_table(str(d / 'p.toml'))


def test_readme_user_table_example_works(tmp_path):
    """The README's "Adding your own ablation table" example, as written."""
    readme = open(os.path.join(ROOT, 'README.md')).read()
    section = readme.split('### Adding your own ablation table')[1]
    toml = section.split('```toml\n')[1].split('```')[0]
    py = section.split('```python\n')[1].split('```')[0]
    (tmp_path / 'my_heads.toml').write_text(toml)
    (tmp_path / 'my_heads_4421.py').write_text(py)
    table = load_registry([str(tmp_path)])['my_heads']
    tasks = plan(table.runnable(), ['complexity'], None, get_profile('paper'), {}, Store(str(tmp_path / 'r')))
    heads = {t.row.id: t.base_cfg.model.decode_head.num_heads for t in tasks}
    assert heads == {'heads-8521': (8, 5, 2, 1), 'heads-4421': (4, 4, 2, 1)}
    assert not [f for f in os.listdir(tmp_path) if f.startswith('.')]  # the temporary copy is gone


def test_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        store = Store(str(tmp_path))
        path = store.put(Record(key='test/x', stage='test', status='failed', config='c', config_hash='h',
                                profile='tiny', seed=0, dataset='ade20k'))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_status_and_plan_scale_to_10000_records(tmp_path):
    """The benchmark of the issue: status and plan on a store with 10,000 records."""
    store = Store(str(tmp_path))
    os.makedirs(os.path.join(store.root, 'records', 'train'))
    rec = Record(key='', stage='train', status='done', config='c', config_hash='h', profile='tiny', seed=0,
                 dataset='ade20k', metrics={'iters': 60})
    for i in range(10000):
        rec.key = f'train/bench-{i:05d}-tiny-s0'
        with open(store.path(rec.key), 'w') as f:
            json.dump(rec.__dict__, f)
    for cmd in ('status', 'plan'):
        t0 = time.perf_counter()
        assert main([cmd, 'tiny', *TINY, '--runs-dir', str(tmp_path)]) == 0
        assert time.perf_counter() - t0 < 2.0 * 3  # 2 s on an idle machine; slack for a loaded CI


WRITERS = """
import multiprocessing as mp, sys, time
sys.path.insert(0, {tests!r})
from test_store import _finish_at
import experiments.engine.process.executor, experiments.engine.compute.stages  # once, here: the forks start at once
runs, same_key = sys.argv[1], sys.argv[2] == '1'
t_end = time.time() + 3
with mp.get_context('fork').Pool(16) as pool:  # forked from this process (no torch op has run: one thread)
    print(pool.map(_finish_at, [(i, same_key, runs, t_end) for i in range(16)]))
"""


def _finish_at(args):
    """In a forked worker: run one task whose stage ends at a common instant."""
    key_index, same_key, runs, t_end = args
    import experiments.engine.compute.stages as stages
    from experiments.engine.process.executor import LeaseHeld, run_task
    table = get_table('tiny', [TABLES])
    (task, ) = [t for t in plan([table.row('umix-b0')], ['complexity'], None, get_profile('tiny'), {},
                                Store(runs))]
    if not same_key:
        task.key = f'{task.key}-{key_index}'

    def stage(task, store):
        time.sleep(max(0.0, t_end - time.time()))
        return {'index': key_index}, {}, None
    stages.run_complexity = stage  # what the complexity spec names (imported when a task runs)
    try:
        return run_task(task, Store(runs), 'test').metrics['index']
    except LeaseHeld:
        return 'held'


@pytest.mark.parametrize('same_key', [False, True], ids=['16-records', 'one-record'])
def test_16_concurrent_writers_lose_nothing(tmp_path, same_key):
    import ast
    script = WRITERS.format(tests=os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run([sys.executable, '-c', script, str(tmp_path), '1' if same_key else '0'], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = ast.literal_eval(res.stdout.strip().splitlines()[-1])
    recs = list(Store(str(tmp_path)).records())
    if same_key:  # one computes it, the others see the lease (or the finished record)
        assert len(recs) == 1 and recs[0].status == 'done'
        assert sum(o != 'held' and o == recs[0].metrics['index'] for o in out) >= 1
        assert all(o == 'held' or o == recs[0].metrics['index'] for o in out)
    else:
        assert sorted(r.metrics['index'] for r in recs) == list(range(16))
        assert all(r.status == 'done' for r in recs)
    assert not [f for d, _, fs in os.walk(tmp_path / 'leases') for f in fs]


def test_a_task_finished_meanwhile_by_another_process_gets_its_line(tmp_path):
    """Two tasks to run; while the first runs, another process finishes the second:
    it still gets its one line (the header counted it as to run)."""
    import io
    from rich.console import Console
    import experiments.engine.compute.stages as stages
    from experiments.backends.local import run_local
    table = get_table('tiny', [TABLES])
    store = Store(str(tmp_path))
    tasks = plan([table.row('umix-b0')], ['complexity'], None, get_profile('tiny'), {}, store)
    other = plan([table.row('umix-b0-city')], ['train'], None, get_profile('tiny'), {}, store)
    first, second = tasks[0], other[0]

    def stage(task, store_):  # meanwhile, "another process" writes the second task's record
        store_.put(Record(key=second.key, stage='train', status='done', config='c', config_hash='h', profile='tiny',
                          seed=0, dataset='cityscapes', metrics={'iters': 60, 'final_loss': 0.5}))
        return {'gflops': 6.0}, {}, None
    old = stages.run_complexity
    stages.run_complexity = stage
    out = io.StringIO()
    try:
        results, busy = run_local([first, second], store, lambda t: 'cmd', Console(file=out, width=200))
    finally:
        stages.run_complexity = old
    lines = out.getvalue().splitlines()
    assert any(l.startswith('done  [1/2]') for l in lines), lines
    (line, ) = [l for l in lines if l.startswith('done  [2/2]')]
    assert 'computed meanwhile by another process' in line and '60 iterations' in line
    assert results[second.key].status == 'done' and not busy


def test_wait_says_it_waits_and_reports_the_other_process_result_as_its(tmp_path, monkeypatch):
    """--wait: one line saying whom it waits for, then the other process's record, said to be
    that process's (not this run's computation, with its own time)."""
    import io
    import threading
    from rich.console import Console
    import experiments.backends.local as local
    monkeypatch.setattr(local, 'POLL_S', 0.05)
    table = get_table('tiny', [TABLES])
    store = Store(str(tmp_path))
    (task, ) = plan([table.row('umix-b0')], ['complexity'], None, get_profile('tiny'), {}, store)
    other = Lease(store.root, task.key)
    assert other.acquire() is None  # "another process" (alive) computes it

    def finish():
        time.sleep(0.5)
        store.put(Record(key=task.key, stage='complexity', status='done', config='c', config_hash='h',
                         profile='model', seed=None, dataset='ade20k', metrics={'gflops': 6.16}))
        other.release()
    threading.Thread(target=finish).start()
    out = io.StringIO()
    results, busy = local.run_local([task], store, lambda t: 'cmd', Console(file=out, width=200), wait=True)
    text = out.getvalue()
    assert 'wait  [1/1]' in text and 'being computed by pid' in text and 'waiting for it (--wait)' in text, text
    (line, ) = [l for l in text.splitlines() if l.startswith('done')]
    assert 'computed by the process it waited for (waited' in line and '6.16 GFLOPs' in line, text
    assert results[task.key].metrics == {'gflops': 6.16} and not busy


def test_a_record_of_an_older_computation_is_stale_and_computed_again(tmp_path, monkeypatch, capsys):
    """A stage whose computation changed (its StageSpec.version bumped): its old records read
    stale in status, are not reported, and a run computes them again, the old one kept in
    records/history/."""
    import dataclasses
    from experiments.core import stages
    args = ['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'complexity', '--runs-dir', str(tmp_path)]
    assert main(args) == 0
    (old, ) = Store(str(tmp_path)).records()
    assert old.version == 1
    monkeypatch.setitem(stages._SPECS, 'complexity', dataclasses.replace(stages.stage_spec('complexity'), version=2))
    capsys.readouterr()
    assert main(['status'] + args) == 0
    said = ' '.join(capsys.readouterr().out.split())
    assert 'stale: computed by an older version (v1; v2 now); a run computes it again' in said and '1 stale' in said
    assert main(args) == 0
    (new, ) = Store(str(tmp_path)).records()
    assert new.version == 2 and new.key == old.key and new.finished_at >= old.finished_at
    history = [f for _, _, fs in os.walk(tmp_path / 'records' / 'history') for f in fs]
    assert len(history) == 1  # the old record, kept
