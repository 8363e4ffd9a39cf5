"""The local backend: runs the planned tasks one after another on this machine."""
from typing import Callable, Dict, List

from experiments.executor import run_task
from experiments.store import DONE, Record, Store
from experiments.tasks import Task


def run_local(tasks: List[Task], store: Store, command_for: Callable[[Task], str],
              console=None) -> Dict[str, Record]:
    """Runs what is not done; a task whose input failed is skipped. Returns the
    record (or None for skipped tasks) of every task by key."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or Console()
    results: Dict[str, Record] = {}
    failed = set()
    with Progress(TextColumn('[bold]{task.description}'), BarColumn(), TextColumn('{task.completed}/{task.total}'),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        bar = progress.add_task('tasks', total=len(tasks))
        for task in tasks:
            if store.is_done(task.key):
                results[task.key] = store.get(task.key)
                progress.advance(bar)
                continue
            if task.needs in failed or (task.needs and not store.is_done(task.needs)):
                console.print(f'[yellow]skip[/] {task.label}: its input {task.needs} did not finish')
                failed.add(task.key)
                results[task.key] = None
                progress.advance(bar)
                continue
            progress.update(bar, description=task.label)
            rec = run_task(task, store, command_for(task))
            results[task.key] = rec
            if rec.status != DONE:
                failed.add(task.key)
                console.print(f'[red]failed[/] {task.label}: {rec.error.splitlines()[0]}')
            progress.advance(bar)
    return results
