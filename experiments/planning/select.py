"""The one way into planning for the CLI, tests and tools: ``select(PlanOptions)``."""
import dataclasses
from typing import List, NamedTuple

from experiments.planning.options import PlanOptions
from experiments.planning.tasks import Task, plan
from experiments.registry.profiles import Profile, get_profile
from experiments.registry.rows import Row
from experiments.registry.tables import Table, get_table, select_rows
from experiments.store import Store


class Selection(NamedTuple):
    table: Table
    profile: Profile
    rows: List[Row]
    store: Store
    tasks: List[Task]


def select(options: PlanOptions, profile_rows: bool = True, released: bool = False) -> Selection:
    """The tasks ``options`` ask for, with their table, profile, rows and store.

    Without ``options.rows``, a profile's row selection of the table applies unless
    ``profile_rows`` is False (reports show every row). ``released``: the tasks evaluate
    released checkpoints, whose heads are as published (the profile does not size them to
    the built-in data)."""
    table = get_table(options.table, options.tables)
    profile = get_profile(options.profile)
    if released:
        profile = dataclasses.replace(profile, builtin_classes=False)
    row_ids = options.rows
    selection = table.profiles.get(profile.name, {}) if row_ids is None and profile_rows else {}
    if selection:
        row_ids = selection.get('rows')
    rows = select_rows(table, row_ids)
    store = Store(options.runs_dir)

    def planned(which: List[Row], stages) -> List[Task]:
        return plan(which, stages, options.seeds, profile, dict(options.data_roots), store, options.weights_dir,
                    options.settings)
    tasks = planned(rows, options.stages)
    # stages cheap enough to run on every row of the table, not only the selected ones
    every = [s for s in selection.get('every_row_stages', []) if options.stages is None or s in options.stages]
    others = [r for r in table.rows if r not in rows and not r.cited and set(every) & set(r.stages)]
    if every and others:
        keys = {t.key for t in tasks}
        tasks += [t for t in planned(others, every) if t.key not in keys]
        rows = rows + others
    return Selection(table, profile, rows, store, tasks)


def computed_from(keys: List[str], everything: List[Task]) -> List[str]:
    """``keys`` and, transitively, the keys of the tasks that read them (what invalidating
    them must set aside too)."""
    todo, i = list(keys), 0
    while i < len(todo):
        todo += [t.key for t in everything if t.needs == todo[i] and t.key not in todo]
        i += 1
    return todo
