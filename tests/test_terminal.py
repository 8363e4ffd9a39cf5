"""The README's commands as a person types them: in a real (pseudo-)terminal, where the
console draws a live bar, a run of several tasks ends with every task done and the
report printed; Ctrl-C gives one line, an ``interrupted`` record and exit 130."""
import os
import pty
import re
import select
import signal
import sys
import time

from conftest import DATA_DIR, ROOT
from experiments.store import Store

TABLES = os.path.join(DATA_DIR, 'tables')


def _spawn(argv, **env_extra):
    """Starts ``python -m experiments.cli ARGV`` with a pseudo-terminal as its
    controlling terminal (stdin, stdout and stderr); returns (pid, master fd)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session whose terminal is the pty
        os.chdir(ROOT)
        env = dict(os.environ, COLUMNS='120', LINES='40', TERM='xterm-256color', **env_extra)
        env.pop('CI', None)  # rich treats CI as "no live display"
        # as a shell starts a program: default SIGINT handling (an ignored signal is inherited
        # across exec, and something earlier in this pytest process may have ignored it)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execve(sys.executable, [sys.executable, '-m', 'experiments.cli'] + argv, env)
    return pid, fd


def _read(fd, until=None, timeout=600.0):
    """What the terminal shows until ``until(text)`` holds, the child closes it, or timeout."""
    out, deadline = b'', time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if until is not None and until(out.decode(errors='replace')):
                break
    return out.decode(errors='replace')


def _plain(screen):
    """The screen's text without colours and cursor movements."""
    return re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', screen).replace('\r', '\n')


def _exit_code(pid):
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_run_in_a_terminal_finishes_every_task(tmp_path):
    runs = str(tmp_path / 'runs')
    pid, fd = _spawn(['tiny', '--tables', TABLES, '--profile', 'tiny', '--rows', 'umix-b0', '--runs-dir', runs])
    try:
        screen = _read(fd)
    finally:
        code = _exit_code(pid)
        os.close(fd)
    assert code == 0, screen[-4000:]
    assert 'I/O operation on closed file' not in screen and 'lost sys.stderr' not in screen, screen[-4000:]
    plain = _plain(screen)
    done = [l for l in plain.splitlines() if l.startswith('done ')]
    assert len(done) == 3, plain[-4000:]  # train, test, complexity
    assert '\x1b[' in screen and '━' in plain and '60/60' in plain  # a terminal: the live bar was drawn
    assert 'reproduced vs published' in plain and 'scorecard' in plain  # the report table
    recs = list(Store(runs).records())
    assert len(recs) == 3 and all(r.status == 'done' for r in recs)


def _ctrl_c_during_training(runs):
    """Starts a tiny training in a terminal and types Ctrl-C once its bar shows; returns
    (exit code, output before, output after). The training is held before iteration 10
    until a signal arrives (the preemption tests' hold), so that on a loaded machine, where
    the bar first showed at 59/60, the run cannot finish before the keypress lands."""
    pid, fd = _spawn(['tiny', '--tables', TABLES, '--profile', 'tiny', '--rows', 'umix-b0', '--stages', 'train',
                      '--runs-dir', runs], UMIX_TEST_HOLD_AT_ITER='10')
    try:
        # the terminal sends SIGINT to the foreground process group, as it does for a person
        before = _read(fd, until=lambda s: 'train' in s and '/60' in s, timeout=300)
        assert '/60' in before, before[-3000:]
        os.write(fd, b'\x03')
        after = _read(fd, timeout=120)
    finally:
        try:
            code = _exit_code(pid)
        except ChildProcessError:
            code = None
        os.close(fd)
    return code, before, after


def test_ctrl_c_in_a_terminal(tmp_path):
    runs = str(tmp_path / 'runs')
    code, before, after = _ctrl_c_during_training(runs)
    assert code == 130, (before + after)[-3000:]
    lines = [l for l in _plain(after).splitlines() if 'interrupted' in l]
    assert len(lines) == 1 and 'interrupted by SIGINT' in lines[0], after[-3000:]
    assert 'Traceback' not in after and 'lost sys.stderr' not in after, after[-3000:]
    (rec, ) = Store(runs).records()
    assert rec.status == 'interrupted' and rec.error == 'interrupted by SIGINT'
