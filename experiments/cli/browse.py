"""list, show: the tables of the registry."""
import os

from rich.table import Table as RTable

from experiments.registry.schema import CONFIG_DIR
from experiments.registry.tables import get_table, load_registry


def cmd_list(args, console) -> int:
    t = RTable(title='tables')
    for col in ('name', 'title', 'runnable rows', 'cited rows', 'file'):
        t.add_column(col)
    for name, table in sorted(load_registry(args.tables).items()):
        t.add_row(name, table.title, str(len(table.runnable())), str(len(table.rows) - len(table.runnable())),
                  os.path.relpath(table.path))
    console.print(t)
    return 0


def cmd_show(args, console) -> int:
    table = get_table(args.table, args.tables)
    t = RTable(title=f'{table.name}: {table.title}', caption=table.source)
    for col in ('row', 'group', 'method', 'dataset', 'stages', 'seeds', 'config', 'published', 'provenance'):
        t.add_column(col, overflow='fold')
    for r in table.rows:
        pub = ', '.join(f'{k}={v}' for k, v in r.published.items()) or 'UNKNOWN'
        cfg = os.path.relpath(r.config, CONFIG_DIR) if r.config else '(cited)'
        t.add_row(r.id, r.group, r.label, r.dataset, ','.join(r.stages), ','.join(map(str, r.seeds)), cfg,
                  pub, r.provenance)
    console.print(t)
    return 0
