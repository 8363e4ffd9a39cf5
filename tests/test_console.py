"""What a person sees: a quiet console (one start and one end line per task, progress at
most every 10 % without a terminal), the full mmengine log in each task's log file, and
failures in one screen with the commands to inspect and rerun."""
import os
import re
import subprocess
import sys

from conftest import DATA_DIR, ROOT
from experiments.store import Store

TABLES = os.path.join(DATA_DIR, 'tables')
CLI = [sys.executable, '-m', 'experiments.cli']
MMENGINE_LINE = re.compile(r'^\d{2}/\d{2} \d{2}:\d{2}:\d{2} - mmengine - ')


def _run(args, tmp_path):
    return subprocess.run(CLI + args, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONUNBUFFERED='1'))


def test_console_is_quiet_and_the_log_is_full(tmp_path):
    res = _run(['tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(tmp_path / 'runs'),
                '--rows', 'umix-b0'], tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    lines = res.stdout.splitlines()
    assert not [l for l in lines if MMENGINE_LINE.match(l)], 'mmengine logging reached the console'
    starts = [l for l in lines if l.startswith('start ')]
    ends = [l for l in lines if l.startswith('done ')]
    assert len(starts) == len(ends) == 3  # train, test, complexity
    assert any('mIoU' in l for l in ends) and any('GFLOPs' in l for l in ends)
    progress = [l for l in lines if l.strip().startswith('train ')]
    assert 2 <= len(progress) <= 11 and progress[-1].strip().startswith('train 60/60 (100 %)')
    assert len(lines) < 80, '\n'.join(lines)
    train = next(r for r in Store(str(tmp_path / 'runs')).records() if r.stage == 'train')
    log = open(Store(str(tmp_path / 'runs')).abs(train.log)).read()
    assert 'mmengine - INFO' in log and 'Iter(train)' in log


def test_failure_screen(tmp_path):
    runs = str(tmp_path / 'runs')
    res = _run(['tiny_broken', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', runs, '--stages', 'train'],
               tmp_path)
    assert res.returncode == 1
    out = res.stdout
    assert 'failed [1/1]' in out and "unknown kv_sources 'nonsense'" in out
    assert 'log: ' in out and 'last lines of the log' in out
    assert "ValueError: unknown kv_sources 'nonsense'" in out.split('last lines of the log:')[1]  # the log's tail
    assert (f'rerun (done tasks are skipped): run-experiment tiny_broken --tables {TABLES} --profile tiny '
            f'--runs-dir {runs} --stages train') in ' '.join(out.split())
    # the status command repeats every option that selects the records (and only those status takes)
    assert (f'inspect: run-experiment status tiny_broken --stages train --profile tiny --runs-dir {runs} '
            f'--tables {TABLES}') in ' '.join(out.split())


def test_no_arguments_shows_tables_and_examples():
    res = subprocess.run(CLI, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and 'table1' in res.stdout and 'examples:' in res.stdout


def test_each_command_has_its_own_help_and_refuses_others_options():
    plan = subprocess.run(CLI + ['plan', '--help'], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0 and '--stages' in plan.stdout and '--slurm-profile' in plan.stdout
    assert '--checkpoints' not in plan.stdout and '--corruptions' not in plan.stdout
    top = subprocess.run(CLI + ['--help'], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert top.returncode == 0 and 'evaluate' in top.stdout and 'COMMAND --help' in top.stdout
    # a second table or another command's option is an error, not silently ignored
    two = subprocess.run(CLI + ['table1', 'table2'], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert two.returncode == 2 and 'unrecognized arguments: table2' in two.stderr
    wait = subprocess.run(CLI + ['status', 'table1', '--wait'], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert wait.returncode == 2 and '--wait' in wait.stderr
