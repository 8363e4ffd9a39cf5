"""The commands that reproduce or set aside one task's record, exactly as printed."""
import os
import shlex
from typing import Dict, List, Optional

from experiments.planning.options import option_table, stage_settings
from experiments.planning.task import Task
from experiments.registry.rows import Row
from experiments.registry.schema import TABLE_DIR
from experiments.store import Store


def suite_command(*words: str) -> List[str]:
    """``run-experiment WORDS``, after ``UMIX_PLUGINS=...`` where plugins are loaded: a
    command printed for a plugin's stage, option or table plans nothing without them."""
    plugins = os.environ.get('UMIX_PLUGINS', '').strip()
    return ([f'UMIX_PLUGINS={plugins}'] if plugins else []) + ['run-experiment', *words]


def suite_argv(command: str) -> List[str]:
    """The arguments of a printed suite command (what follows ``run-experiment``)."""
    words = shlex.split(command)
    return words[words.index('run-experiment') + 1:]


def _table_flags(row: Row) -> List[str]:
    """``--tables DIR`` where the row's table is not one of the suite's own."""
    if row.table_dir and os.path.realpath(row.table_dir) != os.path.realpath(TABLE_DIR):
        return ['--tables', row.table_dir]
    return []


def option_words(task: Task, command: str, stage: Optional[str] = None) -> List[str]:
    """The flags that give a task's options (not at their default) to ``command``: what plans
    this very task again (``run`` also takes the runtime ones); with ``stage``, the options of
    the task that also apply to that stage of its row (e.g. the training a test reads)."""
    settings = stage_settings(task.stage, task.options, task.runtime)
    return [w for opt in option_table() if opt.applies(task.stage) and opt.applies(stage or task.stage)
            and command in opt.commands for w in opt.words(settings[opt.name])]


def reproduce_command(task: Task, data_roots: Dict[str, str], runs_dir: Optional[str] = None,
                      weights_dir: Optional[str] = None) -> str:
    """The command that computes exactly this task's record (into ``runs_dir`` when given)."""
    parts = suite_command(task.row.table) + _table_flags(task.row) + [
        '--rows', task.row.id, '--stages', task.stage, '--profile', task.profile]
    if task.seed is not None:
        parts += ['--seeds', str(task.seed)]
    parts += option_words(task, 'run')
    for ds, root in sorted(data_roots.items()):
        parts += ['--data-root', f'{ds}={root}']
    if runs_dir:
        parts += ['--runs-dir', os.path.abspath(runs_dir)]
    if weights_dir:
        parts += ['--weights-dir', os.path.abspath(weights_dir)]
    return shlex.join(parts)


def invalidate_command(task: Task, store: Store, stage: Optional[str] = None) -> str:
    """The command that sets this task's record (or its row's ``stage`` record) aside: with
    the task's options (they are in its key) and its data root unless that is the built-in
    data (the root is in the key too)."""
    data = []
    if task.data_root and not store.is_builtin_root(task.data_root):
        data = ['--data-root', f'{task.row.dataset}={os.path.abspath(task.data_root)}']
    return shlex.join(suite_command('invalidate', task.row.table) + _table_flags(task.row) + [
        '--rows', task.row.id, '--stages', stage or task.stage, '--profile', task.profile] + (
        ['--seeds', str(task.seed)] if task.seed is not None else []) + option_words(task, 'invalidate', stage) + data + [
        '--runs-dir', store.root])
