"""A store this process may read but not write (a shared store, another user's, a
read-only mount): reading works (status, plan, a report written elsewhere), writing
says what cannot be written and why, in one line and exit 2, never a traceback."""
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from conftest import ROOT, TINY_TABLES
from experiments.cli import main
from experiments.store import Store

TINY = ['--tables', TINY_TABLES, '--profile', 'tiny']

# runs each command in one process that cannot override file permissions (root's
# CAP_DAC_OVERRIDE dropped), so a read-only folder is read-only also for root
COMMANDS = r"""
import contextlib, io, json, sys
from experiments.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    buf_out, buf_err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
        try:
            code = main(argv)
        except SystemExit as err:
            code = err.code
        except BaseException as err:
            code = 'raised ' + type(err).__name__ + ': ' + str(err)
    out.append(dict(argv=argv, code=code, out=buf_out.getvalue(), err=buf_err.getvalue()))
print(json.dumps(out))
"""


def _without_dac_override():
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which('setpriv')
    if setpriv is None:
        pytest.skip('setpriv (util-linux) is needed to drop root\'s permission override')
    caps = '-dac_override,-dac_read_search'
    return [setpriv, f'--inh-caps={caps}', f'--bounding-set={caps}']


def _run_commands(cases):
    res = subprocess.run(_without_dac_override() + [sys.executable, '-c', COMMANDS, json.dumps(cases)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _read_only(folder):
    for d, dirs, files in os.walk(folder):
        for name in dirs + files + ['']:
            p = os.path.join(d, name)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _writable(folder):
    for d, dirs, files in os.walk(folder):
        os.chmod(d, os.stat(d).st_mode | stat.S_IWUSR)


def test_read_only_store(tiny_trained, tmp_path):
    runs, data = tiny_trained
    ro = tmp_path / 'shared-runs'
    shutil.copytree(runs, ro, symlinks=True)
    store = Store(str(ro))
    damaged = store.path(next(r.key for r in store.records() if r.stage == 'test'))
    with open(damaged, 'w') as f:
        f.write('{"key": "tru')
    empty = tmp_path / 'empty-runs'
    empty.mkdir()
    _read_only(ro)
    _read_only(empty)
    args = ['tiny', *TINY, '--rows', 'umix-b0', '--data-root', f'ade20k={data}', '--runs-dir', str(ro)]
    mine = str(tmp_path / 'my-reports')
    try:
        results = _run_commands([
            ['status'] + args, ['plan'] + args, ['report'] + args + ['--out', mine],
            ['report'] + args,
            ['run'] + args + ['--stages', 'complexity'],  # a lease must be written
            ['invalidate'] + args + ['--stages', 'train'],
            ['run', 'tiny', *TINY, '--rows', 'umix-b0', '--runs-dir', str(empty)],  # built-in data generation
        ])
    finally:
        _writable(ro)
        _writable(empty)
    by = {i: r for i, r in enumerate(results)}
    for i in (0, 1, 2):  # reading works; the damaged record is named and left where it is
        assert by[i]['code'] == 0, by[i]
        assert f'damaged record {damaged}' in by[i]['err'] + by[i]['out'] and 'not writable' in by[i]['err']
    assert os.path.exists(damaged) and not os.path.exists(ro / 'records' / 'damaged')
    assert os.path.isfile(os.path.join(mine, 'tiny.html'))
    for i, what in ((3, 'reports'), (4, 'leases'), (5, os.path.join('work', 'history')), (6, 'data')):
        r = by[i]
        text = ' '.join((r['out'] + r['err']).split())
        assert r['code'] == 2, r
        assert 'Traceback' not in text and 'cannot write' in text and 'Permission denied' in text, text
        assert 'is not writable here' in text and '--out DIR' in text, text
        assert what in text, (what, text)
    assert not os.path.exists(ro / 'records' / 'history')  # nothing half-done


@pytest.mark.parametrize('command', ['plan', 'status', 'run', 'report', 'invalidate', 'evaluate'])
def test_runs_dir_under_a_file(tmp_path, capsys, command):
    afile = tmp_path / 'file'
    afile.write_text('x')
    extra = {'invalidate': ['--rows', 'umix-b0', '--stages', 'train'], 'evaluate': ['--checkpoints', str(tmp_path)]}
    assert main([command, 'tiny', *TINY, '--runs-dir', str(afile / 'sub')] + extra.get(command, [])) == 2
    out = ' '.join(capsys.readouterr().out.split())
    assert f'lies under {afile}, which is a file' in out, out
    assert main(['weights', 'list', '--runs-dir', str(afile / 'sub' / 'deeper')]) == 2
    assert 'which is a file' in ' '.join(capsys.readouterr().out.split())
