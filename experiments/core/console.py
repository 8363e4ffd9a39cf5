"""What a person sees while tasks run: one start line, progress, one end line per task.

mmengine's and mmseg's output (config and environment dumps, per-iteration logs, class
tables, warnings) goes to the task's log file: ``capture_output`` points the process's
stdout and stderr (file descriptors 1 and 2, so C-level output too) at the log while a
stage runs. The suite's own lines go to the terminal through a console opened on a
duplicate of the original stdout. On a terminal progress is a live bar (iteration /
total, loss, ETA); without one (CI, SLURM logs, pipes) it is plain lines, at most one
per 10 % of a task. ``--verbose`` turns the capture off.
"""
import contextlib
import os
import sys
import time
from typing import Callable, Iterator, Optional

_reporter: Optional[Callable[[str, int, int, str], None]] = None


def report_progress(kind: str, done: int, total: int, info: str = '') -> None:
    """Called by the suite's hooks and loops; does nothing without a reporter."""
    if _reporter is not None:
        _reporter(kind, done, total, info)


@contextlib.contextmanager
def reporting(reporter: Callable[[str, int, int, str], None]) -> Iterator[None]:
    global _reporter
    old, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = old


@contextlib.contextmanager
def capture_output(log_path: str) -> Iterator[None]:
    """Redirects fds 1 and 2 (and sys.stdout/err) to ``log_path`` (appended)."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log = open(log_path, 'a', buffering=1)
    # the Python streams too: where sys.stdout is no fd (a test's capture, a notebook)
    # the loggers created inside (mmengine's, per Runner) would otherwise bind to it
    streams = sys.stdout, sys.stderr
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        yield
    finally:
        sys.stdout, sys.stderr = streams
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        log.close()


def terminal_console():
    """A rich console on a duplicate of the current stdout, so that it still reaches
    the terminal (or the pipe) while fd 1 is captured into a log."""
    import io

    from rich.console import Console
    try:
        out = os.fdopen(os.dup(sys.stdout.fileno()), 'w', buffering=1)
    except (io.UnsupportedOperation, AttributeError, ValueError):  # stdout is no file (a test's capture)
        return Console(file=sys.stdout, width=170)
    return Console(file=out, width=None if out.isatty() else 170, force_terminal=None)


def tail(path: str, n: int = 20) -> str:
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return ''


class Progress:
    """Progress of one task: a live bar on a terminal, else a line per 10 %."""

    def __init__(self, console, label: str) -> None:
        self.console, self.label = console, label
        self.tty = console.is_terminal
        self.t0 = time.monotonic()
        self.last_decile = -1
        self._bar = None

    def __call__(self, kind: str, done: int, total: int, info: str = '') -> None:
        frac = done / total if total else 1.0
        eta = (time.monotonic() - self.t0) * (1 - frac) / frac if frac > 0 else 0.0
        if self.tty:
            if self._bar is None:
                from rich.progress import BarColumn
                from rich.progress import Progress as RichProgress
                from rich.progress import TextColumn, TimeRemainingColumn
                self._bar = RichProgress(TextColumn('  {task.description}'), BarColumn(),
                                         TextColumn('{task.completed}/{task.total} {task.fields[info]}'),
                                         TimeRemainingColumn(), console=self.console, transient=True,
                                         # the bar may start inside capture_output: redirecting would save the
                                         # task's log as sys.stdout and restore it, closed, when the bar stops
                                         redirect_stdout=False, redirect_stderr=False)
                self._bar.start()
                self._id = self._bar.add_task(kind, total=total, info=info)
            self._bar.update(self._id, completed=done, total=total, description=kind, info=info)
            return
        decile = int(frac * 10)
        if decile > self.last_decile:
            self.last_decile = decile
            self.console.print(f'  {kind} {done}/{total} ({100 * frac:.0f} %){" " + info if info else ""}, '
                               f'ETA {eta:.0f} s', highlight=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
