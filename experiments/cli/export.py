"""export: a row's model as ONNX for deployment, checked against PyTorch with ONNX Runtime."""
import os

from experiments.cli.selection import other_tests, select_tasks
from experiments.core.errors import UsageError
from experiments.engine.compute.export import FORMATS, TOLERANCE, export_task


def cmd_export(args, console) -> int:
    """export TABLE --rows ROW [--checkpoint FILE] [--format onnx]: the row's model, exported."""
    if not args.rows or len(args.rows) != 1:
        raise UsageError('export needs exactly one row: --rows ROW')
    formats = args.format or ['onnx']
    if set(formats) - set(FORMATS):
        raise UsageError(f'export writes {", ".join(FORMATS)}, not {", ".join(sorted(set(formats) - set(FORMATS)))}')
    args.stages = ['test']  # the row's evaluated model: its test configuration and its training's weights
    table, profile, rows, store, tasks = select_tasks(args, released=bool(args.checkpoint))
    seed = args.seeds[0] if args.seeds else None
    task = next((t for t in tasks if t.stage == 'test' and (seed is None or t.seed == seed)), None)
    if task is None:
        raise UsageError(f'{table.name}/{args.rows[0]} has no evaluated model (no test stage) with seed {seed}')
    out = os.path.abspath(args.out or os.path.join(store.root, 'exports', table.name))
    result = export_task(task, store, out, args.checkpoint, lambda: other_tests(args))
    for check in result.checks:
        h, w = check['input_hw']
        console.print(f'  onnxruntime vs pytorch at {h}x{w}: max abs difference {check["max_abs_diff"]:.2e} '
                      f'(tolerance {TOLERANCE:g})', highlight=False)
    shape = 'dynamic height and width' if result.dynamic else f'fixed {result.input_hw[0]}x{result.input_hw[1]} ' \
        f'({result.why_static})'
    console.print(f'{result.path}: {table.name}/{task.row.id}, opset {result.opset}, {shape}, sha256 '
                  f'{result.sha256[:12]}; weights {result.weights}', highlight=False)
    return 0
