"""Recomputing on purpose and working on copies: an invalidated training trains again
from iteration 0, a copied store reads only its own files, and every command the
suite prints for the user (hints, a record's command) works as printed, from any folder."""
import json
import os
import re
import shlex
import shutil

from conftest import TINY_TABLES
from experiments.cli import main
from experiments.planning.commands import suite_argv
from experiments.store import Store

TINY = ['--tables', TINY_TABLES, '--profile', 'tiny']


def _copy(runs, dest):
    shutil.copytree(runs, dest, symlinks=True)
    return dest


def _train(store):
    return next(r for r in store.records() if r.stage == 'train')


def _paths_of(rec):
    return [p for p in [rec.log, rec.resumed_from, *rec.artifacts.values()] if p]


def test_invalidated_training_trains_from_iteration_0(tiny_trained, tmp_path, capsys):
    runs, data = tiny_trained
    runs = _copy(runs, tmp_path / 'runs')
    store = Store(str(runs))
    old = _train(store)
    args = ['tiny', *TINY, '--rows', 'umix-b0', '--data-root', f'ade20k={data}', '--runs-dir', str(runs)]
    assert main(['invalidate'] + args + ['--stages', 'train']) == 0
    assert not os.path.exists(store.work_dir(old.key))  # the old run folder is set aside with the record
    (hist, ) = [os.path.join(d, f) for d, _, fs in os.walk(runs / 'records' / 'history' / 'train') for f in fs]
    retired = json.load(open(hist))
    assert os.path.isfile(store.abs(retired['artifacts']['checkpoint']))  # history still points at its files
    assert retired['artifacts']['checkpoint'].startswith('work/history/train/')
    capsys.readouterr()
    assert main(args + ['--stages', 'train']) == 0
    new = _train(Store(str(runs)))
    assert new.resumed_from is None and new.metrics['iters'] == 60
    log = open(store.abs(new.log)).read()
    assert 'Iter(train) [10/60]' in log and 'Iter(train) [60/60]' in log  # every iteration trained again
    assert os.path.isfile(store.abs(new.artifacts['checkpoint']))
    assert os.path.getmtime(store.abs(new.artifacts['checkpoint'])) > os.path.getmtime(
        store.abs(retired['artifacts']['checkpoint']))


def test_copied_store_uses_its_own_checkpoints(tiny_trained, tmp_path):
    """cp -a RUNS COPY; an unfinished training in the copy resumes from the copy's files."""
    runs, data = tiny_trained
    copy = _copy(runs, tmp_path / 'copy')
    store = Store(str(copy))
    train = _train(store)
    last = open(os.path.join(store.work_dir(train.key), 'last_checkpoint')).read()
    assert last.startswith(str(runs))  # mmengine wrote the original store's absolute path
    # as if the training had been interrupted after its last checkpoint
    path = store.path(train.key)
    rec = json.load(open(path))
    rec.update(status='interrupted', error='interrupted by SIGINT', metrics={})
    json.dump(rec, open(path, 'w'))
    assert main(['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'train', '--data-root', f'ade20k={data}',
                 '--runs-dir', str(copy)]) == 0
    resumed = _train(Store(str(copy)))
    assert resumed.status == 'done' and resumed.resumed_from == os.path.relpath(
        os.path.join(store.work_dir(train.key), 'iter_60.pth'), str(copy))
    for rec in Store(str(copy)).records():  # nothing points outside the copy
        for p in _paths_of(rec):
            assert not os.path.isabs(p) and os.path.exists(store.abs(p)), (rec.key, p)


def _hints(text):
    """The run-experiment commands printed in ``text`` (one per line, never wrapped)."""
    return [m.group(0).rstrip('`.') for m in re.finditer(r'run-experiment [^`\n]*?(?=`| and then |$)', text, re.M)]


def test_every_printed_hint_works_as_printed(tiny_trained, tmp_path, capsys, monkeypatch):
    runs, data = tiny_trained
    runs = _copy(runs, tmp_path / 'runs')
    store = Store(str(runs))
    train = _train(store)
    test = next(r for r in store.records() if r.stage == 'test')
    os.remove(store.abs(train.artifacts['checkpoint']))
    monkeypatch.chdir(tmp_path)  # hints work from another folder than the one they were printed in
    args = ['tiny', *TINY, '--rows', 'umix-b0', '--data-root', f'ade20k={data}', '--runs-dir', str(runs)]
    capsys.readouterr()
    assert main(['status'] + args) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if 'its checkpoint is gone; to recompute it:' in l)
    invalidate, rerun = _hints(line)
    assert invalidate.startswith('run-experiment invalidate tiny --tables') and '--runs-dir' in invalidate
    # the test stage's error names the same fix: retire the test record, run it, read its error
    store.retire(test.key)
    assert main(['tiny', *TINY, '--rows', 'umix-b0', '--stages', 'test', '--data-root', f'ade20k={data}',
                 '--runs-dir', str(runs)]) == 1
    failed = Store(str(runs)).get(test.key)
    (stage_hint, ) = _hints(failed.error.splitlines()[0])
    assert stage_hint.startswith('run-experiment invalidate tiny --tables')
    assert main(shlex.split(stage_hint)[1:]) == 0, stage_hint
    assert Store(str(runs)).get(train.key) is None
    assert main(shlex.split(rerun)[1:]) == 0, rerun  # the status hint's second half: recompute
    assert Store(str(runs)).get(train.key).status == 'done'
    # a record's command recomputes exactly that record
    recomputed = Store(str(runs)).get(test.key)
    store.retire(test.key)
    assert main(suite_argv(recomputed.command)) == 0, recomputed.command
    assert Store(str(runs)).get(test.key).status == 'done'


def test_status_is_one_line_per_task_and_paths_on_request(tiny_trained, capsys):
    runs, data = tiny_trained
    args = ['tiny', '--tables', TINY_TABLES, '--profile', 'tiny', '--rows', 'umix-b0', '--data-root',
            f'ade20k={data}', '--runs-dir', str(runs)]
    capsys.readouterr()
    assert main(['status'] + args) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith('umix-b0 ')]
    assert len(rows) == 3 and '3 tasks: 2 done, 1 missing (--paths' in out and 'records/' not in out
    assert main(['status', '--paths'] + args) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert 'records/train/' in out and 'records/test/' in out and '3 tasks: 2 done, 1 missing' in out
