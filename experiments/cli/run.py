"""run, evaluate: compute a table's missing records; test released checkpoints."""
import argparse
import os

from analysis.results import read_results
from experiments.cli.output import print_comparison
from experiments.cli.parser import command_line
from experiments.cli.selection import make_backend, select_tasks
from experiments.core.device import available_cpus
from experiments.core.errors import UsageError
from experiments.core.stages import stage_specs
from experiments.engine.process.executor import prepare_data, run_task
from experiments.engine.compute.released import match_folder, released_tasks
from experiments.registry.weights import check, needed_files, weights_dir


def check_weights(tasks, args, store) -> None:
    """Missing or corrupt pretrained weights stop a run before any job."""
    files = [f for t in tasks if t.stage == 'train' for f in needed_files(t.cfg.model)]
    if files:
        check(files, weights_dir(store.root, args.weights_dir))


def cmd_run(args, console) -> int:
    table, profile, rows, store, tasks = select_tasks(args)
    todo = [t for t in tasks if not store.is_done(t.key)]
    console.print(f'[bold]{table.name}[/]: {len(tasks)} tasks, {len(tasks) - len(todo)} already done, '
                  f'{len(todo)} to run (profile {profile.name}, results in {store.root})')
    backend = make_backend(args)
    backend.check()  # an unreachable cluster is named before the datasets are prepared
    for check_ in prepare_data(todo, store, available_cpus()).values():  # a bad root fails here, before any job
        for line in check_.warnings():
            console.print(f'[yellow]note:[/] {check_.dataset} at {check_.root}: {line}', highlight=False)
    check_weights(todo, args, store)  # so do missing or corrupt pretrained weights
    return backend.run(table, tasks, store, console,
                       lambda: print_comparison(read_results(table, tasks, store, profile.name), rows, console))


def cmd_evaluate(args, console) -> int:
    """Released checkpoints: identified, matched to rows, evaluated by the test stage."""
    if not args.checkpoints:
        raise UsageError('evaluate needs --checkpoints DIR (a folder of released .pth files)')
    evaluating = [s.name for s in stage_specs() if s.evaluates]  # they read a training's weights
    stages = args.stages or evaluating[:1]
    bad = set(stages) - set(evaluating)
    if bad:
        raise UsageError(f'evaluate runs the evaluating stages ({", ".join(evaluating)}), not {sorted(bad)}')
    args.stages = stages
    table, profile, rows, store, tasks = select_tasks(args, released=True)
    files, chosen = match_folder(table, rows, args.checkpoints)
    for m in files:
        what = (f'-> {", ".join(m.rows)} ({m.head}, sha256 {m.sha256[:12]})' if m.rows and not m.problem
                else m.problem)
        console.print(f'{os.path.relpath(m.path, args.checkpoints)}: {what}', highlight=False)
    todo = released_tasks(tasks, chosen, stages, store)
    if not todo:
        console.print(f'no checkpoint to evaluate for {table.name}')
        return 1 if any(m.problem for m in files) else 0
    prepare_data(todo, store)
    failed = 0
    for r in todo:
        cmd = command_line('evaluate', argparse.Namespace(**{**vars(args), 'rows': [r.row.id], 'stages': [r.stage]}))
        rec = run_task(r, store, cmd)
        result = f'miou={rec.metrics.get("miou", rec.metrics.get("miou_corrupted")):.2f}' if rec.status == 'done' \
            else rec.error.splitlines()[0]
        console.print(f'{r.stage} {table.name}/{r.row.id} (released {os.path.basename(r.released.file)}): '
                      f'{rec.status}, {result}; record {store.path(r.key)}', highlight=False)
        failed += rec.status != 'done'
    return 1 if failed else 0
