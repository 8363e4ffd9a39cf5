"""plan: what a run would compute, its records, estimates and (slurm) the scripts."""
import os
from typing import Dict, Optional, Tuple

from rich.table import Table as RTable

from experiments.cli.parser import command_line
from experiments.cli.selection import make_backend, select_tasks
from experiments.core.device import available_cpus
from experiments.core.stages import stage_spec
from experiments.data.check import verify
from experiments.data.cityscapes_c import generation_estimate
from experiments.data.datasets import DatasetRootError
from experiments.planning.locations import cityscapes_c_root
from experiments.planning.projection import Projection, projections


def seed_text(seed) -> str:
    return '—' if seed is None else str(seed)


def estimate(task, profile, done: bool, projected: Optional[Projection] = None) -> Tuple[float, bool]:
    """A task's cost, CPU minutes (built-in data profiles) or GPU-hours (all its
    processes), and whether it is projected from a calibration (else the registry's
    estimate)."""
    if done:
        return 0.0, False
    if projected is not None and projected.calibrated:
        seconds = projected.seconds * stage_spec(task.stage).processes(task.row.world_size)
        return (seconds / 60 if profile.cpu_minutes else seconds / 3600), True
    if profile.cpu_minutes:
        return stage_spec(task.stage).cpu_minutes(profile.name), False
    return task.row.gpu_hours.get(task.stage, 0.0) * stage_spec(task.stage).processes(task.row.world_size), False


def seeds_text(seeds) -> str:
    """Several tasks' seeds, short: '0-399', '0,2,5', or a dash for none."""
    seeds = sorted(s for s in seeds if s is not None)
    if not seeds:
        return '—'
    if len(seeds) > 3 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f'{seeds[0]}-{seeds[-1]}'
    return ','.join(map(str, seeds))


def cmd_plan(args, console) -> int:
    """The tasks a run would compute: one line per stage and row(s), its records, states and
    estimate (one line per task with ``--all`` or a ``--rows`` selection, or where a stage and
    row has one task)."""
    table, profile, rows, store, tasks = select_tasks(args)
    unit = 'CPU min' if profile.cpu_minutes else 'GPU h'
    proj = projections(tasks, store, profile, args.calibration or '')
    groups: Dict[tuple, list] = {}
    for task in tasks:
        rec = store.get(task.key)
        state = rec.status if rec else 'to run'
        est, calibrated = estimate(task, profile, state == 'done', proj.get(task.key))
        key = (task.key, ) if args.all or args.rows is not None else (task.stage, tuple(task.rows))
        groups.setdefault(key, []).append((task, 'done (skipped)' if state == 'done' else state, est, calibrated))
    t = RTable(title=f'plan: {table.name}, profile {profile.name}, backend {args.backend}')
    for col in ('stage', 'row(s)', 'seed', 'record', 'state', 'estimate'):
        t.add_column(col, overflow='fold')
    for group in groups.values():
        task = group[0][0]
        counts: Dict[str, int] = {}
        for _, state, _, _ in group:
            counts[state] = counts.get(state, 0) + 1
        est, calibrated = sum(g[2] for g in group), all(g[3] for g in group)
        t.add_row(task.stage, '\n'.join(task.rows), seeds_text(g[0].seed for g in group) if len(group) > 1 else
                  seed_text(task.seed), task.key if len(group) == 1 else f'{len(group)} records (--all: each)',
                  ', '.join(f'{n} {k}' if len(group) > 1 else k for k, n in counts.items()),
                  f'{est:.2f} {unit}' + (' (calibrated)' if calibrated else ''))
    console.print(t)
    total, measured = sum(g[2] for gs in groups.values() for g in gs), sum(g[3] for gs in groups.values() for g in gs)
    backend = make_backend(args)
    backend.describe(table, tasks, store, console)
    todo = [x for x in tasks if not store.is_done(x.key)]
    console.print(f'{len(tasks)} tasks, {len(todo)} to run, about {total:.1f} {unit} '
                  f'({measured} projected from calibrations, the rest by the registry\'s estimates; '
                  f'dry run: nothing was started)', highlight=False)
    print_calibration(args, [x for x in todo if x.key in proj], proj, console)
    print_memory_fit([x for x in todo if x.stage == 'train' and x.key in proj], proj, backend, console)
    print_data_checks(todo, store, console)
    print_generation_cost([x for x in todo if x.stage == 'robustness' and x.options.get('source') != 'on-the-fly'],
                          store, profile, console)
    return 0


def print_memory_fit(tasks, proj, backend, console) -> None:
    """A training whose calibrated per-GPU batch needs more memory than one GPU of the
    backend has (the SLURM profile's gpu_memory_gb, this node's GPU) would fail with an
    out-of-memory error after its time in the queue: said now, with what to change."""
    need = [(t, proj[t.key]) for t in tasks if proj[t.key].peak_memory_gb]
    have = backend.gpu_memory_gb('train') if need else None
    for task, p in need:
        if have and p.peak_memory_gb > have:
            cfg = task.cfg.train_dataloader
            console.print(f'[yellow]warning:[/] {task.row.table}/{task.row.id}: a training step of batch '
                          f'{cfg.batch_size} per GPU took {p.peak_memory_gb:.1f} GiB on {p.device} (calibrate); '
                          f'a GPU of the {backend.name} backend has {have:g} GiB: it will run out of memory. '
                          'Train on GPUs with more memory (splitting the batch over N GPUs, gpus = N and batch/N '
                          'per GPU, is another recipe, keyed apart)',
                          highlight=False)


def print_calibration(args, tasks, proj, console) -> None:
    """Which device the projections come from, and what is not calibrated for it."""
    devices = sorted({proj[t.key].device for t in tasks if proj[t.key].calibrated})
    missing = [t for t in tasks if not proj[t.key].calibrated]
    if devices:
        console.print(f'calibrated on: {", ".join(devices)}', highlight=False)
    if missing:
        want = proj[missing[0].key].device
        rows = sorted({t.row.id for t in missing})
        console.print(f'not calibrated for {want}: {len(missing)} task(s) of {len(rows)} row(s) '
                      f'({", ".join(rows[:6])}{", ..." if len(rows) > 6 else ""}) keep the registry\'s estimate; '
                      f'`{command_line("calibrate", args)}` on a {want} node measures them', highlight=False)


def print_data_checks(tasks, store, console) -> None:
    """The check `run` makes of each data root, without generating or failing (a dry run)."""
    for dataset, root in sorted({(t.row.dataset, t.data_root) for t in tasks if t.data_root}):
        builtin = store.is_builtin_root(root)
        if builtin and not os.path.exists(root):
            console.print(f'data: {dataset} built-in data, generated at {root} by the run', highlight=False)
            continue
        try:
            check = verify(dataset, root, os.path.join(store.root, 'cache'), available_cpus(),
                           expect_official=not builtin)
        except DatasetRootError as err:
            console.print(f'[red]data:[/] {str(err).splitlines()[0]} (run would stop here)', highlight=False)
            continue
        found = check.problems() + check.warnings()
        counts = ', '.join(f'{k} {v:,}' for k, v in check.counts().items())
        console.print(f'data: {dataset} at {root}: {counts} image/label pairs'
                      + (f'; [red]{len(check.problems())} problem(s)[/], run would stop: ' if check.problems() else
                         '; ' if found else '; checked') + '; '.join(found), highlight=False)


def print_generation_cost(tasks, store, profile, console) -> None:
    """What the Cityscapes-C the robustness tasks read costs to generate (once per
    source root and protocol), before anything is queued."""
    seen = set()
    for task in tasks:
        out = cityscapes_c_root(task, store)
        if out in seen:
            continue
        seen.add(out)
        est = generation_estimate(task.data_root, out, profile.robustness_images)
        cores = available_cpus()
        console.print(f'Cityscapes-C for the robustness stage: {est["images"]} images x {est["variants"]} '
                      f'variants, {est["to_write"]} still to write in {out}: about {est["cpu_hours"]:.1f} CPU-hours '
                      f'({est["cpu_hours"] / cores:.1f} h on this machine\'s {cores} cores) and '
                      f'{est["disk_gib"]:.1f} GiB of PNG (projected from tools/bench_corruptions.py)')
