"""weights list|fetch|verify|add: the pretrained encoder weights the paper profile reads."""
import os
from typing import Dict, List

from rich.table import Table as RTable

from experiments.core.errors import UsageError
from experiments.planning.configs import load_base_config
from experiments.registry.tables import load_registry
from experiments.registry.weights import WeightsError, add, fetch, load_manifest, needed_files, verify_file, weights_dir
from experiments.store import Store


def needed_by(registry, names: List[str]) -> Dict[str, List[str]]:
    """Weight file -> the rows (table/row) whose training reads it."""
    needed: Dict[str, List[str]] = {}
    for name in names:
        for row in registry[name].runnable():
            if 'train' in row.stages:
                for f in needed_files(load_base_config(row.config).model):
                    needed.setdefault(f, []).append(f'{name}/{row.id}')
    return needed


def cmd_weights(args, console) -> int:
    """weights list|fetch|verify [TABLE]: the pretrained files a table (or every table) needs."""
    action = args.table
    manifest = load_manifest()
    folder = weights_dir(Store(args.runs_dir).root, args.weights_dir)
    if action == 'add':
        return weights_add(args, folder, console)
    registry = load_registry(args.tables)
    if args.target and args.target not in registry:
        raise UsageError(f'unknown table {args.target!r}; known tables: {", ".join(sorted(registry))}')
    needed = needed_by(registry, [args.target] if args.target else sorted(registry))
    unknown = sorted(set(needed) - set(manifest))
    if unknown:
        raise WeightsError(f'checkpoints not in the weights manifest: {", ".join(unknown)}')
    failed = 0
    t = RTable(title=f'pretrained weights in {folder}')
    for col in ('file', 'state', 'needed by', 'url'):
        t.add_column(col, overflow='fold')
    for f in sorted(needed):
        w = manifest[f]
        if action == 'fetch':
            try:
                state = fetch(w, folder)
            except WeightsError as err:
                state = f'failed: {err}'
        else:
            state = verify_file(folder, w)
        failed += not state.startswith('ok') and action != 'list'
        users = needed[f]
        t.add_row(f, state, ', '.join(users[:3]) + (f' (+{len(users) - 3})' if len(users) > 3 else ''),
                  w.url or 'none known: place it by hand')
    console.print(t)
    return 1 if failed else 0


def weights_add(args, folder: str, console) -> int:
    if not args.target or not args.file:
        raise UsageError('usage: run-experiment weights add NAME FILE (e.g. weights add lvt ~/Downloads/lvt.pth.tar)')
    w, digest = add(args.target, args.file, folder)
    console.print(f'{w.name}: {os.path.join(folder, w.file)} registered, sha256 {digest} (in '
                  f'{os.path.join(folder, "weights.local.json")}); `weights verify` and every training check it',
                  highlight=False)
    return 0
