"""predict: a row's model on your images (overlays, as the official image demo)."""
import os

import torch

from experiments.cli.selection import other_tests, select_tasks
from experiments.core.errors import UsageError
from experiments.engine.compute.predict import NAMES_UP_TO, predict


def cmd_predict(args, console) -> int:
    """predict TABLE --rows ROW IMAGE...: overlays of one row's predictions."""
    if not args.rows or len(args.rows) != 1:
        raise UsageError('predict needs exactly one row: --rows ROW')
    args.stages = ['test']
    table, profile, rows, store, tasks = select_tasks(args, released=bool(args.checkpoint))
    seed = args.seeds[0] if args.seeds else None
    task = next((t for t in tasks if t.stage == 'test' and (seed is None or t.seed == seed)), None)
    if task is None:
        raise UsageError(f'{table.name}/{args.rows[0]} has no test with seed {seed}')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    out = os.path.abspath(args.out or os.path.join(store.root, 'predictions', table.name, task.row.id))
    for path, names in predict(task, store, args.images, out, args.checkpoint, device, lambda: other_tests(args)):
        console.print(f'{path}' + ('' if names else f' (without class names: over {NAMES_UP_TO / 1e6:.1f} megapixels, '
                                                      'where mmseg takes half a minute and more to place them; the '
                                                      'class map is whole)'), highlight=False)
    console.print(f'{len(args.images)} image(s) through {table.name}/{task.row.id} '
                  f'({"--checkpoint " + args.checkpoint if args.checkpoint else f"seed {task.seed} training"}) on '
                  f'{device}; overlays and class maps in {out}', highlight=False)
    return 0
