"""calibrate: time each distinct model of a table on this node, for `plan` and SLURM's --time."""
from rich.table import Table as RTable

from experiments.cli.selection import select_tasks
from experiments.core.device import device_matches
from experiments.core.errors import UsageError
from experiments.engine.compute.calibrate import calibrate
from experiments.planning.projection import signature, stage_seconds, val_images
from experiments.store.calibration import Calibrations


def cmd_calibrate(args, console) -> int:
    """calibrate TABLE [--rows R,..] [--profile P] [--iters N]: one entry per distinct model
    (config, per-GPU batch, crop, test input) of the rows' trainings, on this node's device."""
    if args.iters < 1 or args.images < 1:
        raise UsageError('--iters and --images take a positive number of timed runs')
    args.stages = ['train']
    table, profile, rows, store, tasks = select_tasks(args)
    todo = {}
    for task in (t for t in tasks if t.stage == 'train'):
        todo.setdefault(signature(task), task)
    if not todo:
        raise UsageError(f'{table.name}: no selected row trains (calibration times training): choose rows with a '
                         'train stage (`run-experiment show ' + table.name + '`)')
    cals = Calibrations(store.root)
    out = RTable(title=f'calibration: {table.name}, profile {profile.name}')
    for col in ('row', 'batch x crop', 'test input', 's/iter', 's/image', 'train (1 process)'):
        out.add_column(col)
    device = ''
    for sig, task in todo.items():
        console.print(f'timing {task.row.table}/{task.row.id}: {args.iters} iterations, {args.images} images ...',
                      highlight=False)
        entry = calibrate(task, iters=args.iters, warmup=args.warmup, images=args.images)
        cals.put(sig, entry)
        device = entry['device']
        hours = stage_seconds(task, entry, val_images(task, store)) / 3600
        out.add_row(f'{task.row.id}', f'{entry["batch"]} x {entry["crop"][0]}x{entry["crop"][1]}',
                    f'{entry["test_hw"][0]}x{entry["test_hw"][1]} ({entry["mode"]})',
                    f'{entry["seconds_per_iter"]:.3f}', f'{entry["seconds_per_image"]:.3f}', f'{hours:.2f} h')
    console.print(out)
    console.print(f'{len(todo)} model(s) calibrated on {device}, stored in {cals.dir}', highlight=False)
    if not device_matches(profile.device, device):
        console.print(f'[yellow]note:[/] profile {profile.name} plans for {profile.device}; this node has {device}: '
                      f'`plan` uses these timings with --calibration {device.split(":")[0]}, and a calibration '
                      f'run on a {profile.device} node (e.g. through srun) for its own estimates', highlight=False)
    return 0
