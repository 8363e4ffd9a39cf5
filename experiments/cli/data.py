"""data prepare|check, cityscapes-c: dataset roots made from the downloads, checked, corrupted."""
import os

from experiments.cli.output import print_check
from experiments.cli.parser import data_roots
from experiments.cli.selection import make_backend
from experiments.core.console import Progress
from experiments.core.device import available_cpus
from experiments.core.errors import UsageError
from experiments.data.check import verify
from experiments.data.corruptions import CORRUPTIONS
from experiments.data.datasets import resolve_root_path
from experiments.data.prepare import partial_dir, prepare
from experiments.store import Store

EXAMPLE_ARCHIVES = {'ade20k': 'ADEChallengeData2016.zip',
                    'cityscapes': 'leftImg8bit_trainvaltest.zip gtFine_trainvaltest.zip'}


def _prepare(args, root, cache, workers, progress, console):
    if not args.archives:
        raise UsageError(f'data prepare {args.target} needs the downloaded archive(s), e.g. '
                         f'{EXAMPLE_ARCHIVES[args.target]}')
    result = prepare(args.target, args.archives, root, workers, cache, args.allow_other_digest, progress,
                     say=lambda line: console.print(line, highlight=False))
    console.print(f'{result.extracted} files extracted, {result.resumed} already there (resumed), '
                  f'{result.labels} train-id labels made', highlight=False)
    return result.verification


def cmd_data(args, console) -> int:
    """data prepare DATASET ARCHIVE... | data check DATASET: a dataset root, made or checked."""
    root = os.path.abspath(args.root) if args.root else resolve_root_path(args.target)
    cache = os.path.join(Store(args.runs_dir).root, 'cache')
    workers = args.workers or available_cpus()
    progress = Progress(console, f'data {args.table}')
    try:
        if args.table == 'prepare':
            check = _prepare(args, root, cache, workers, progress, console)
        else:
            if args.archives:
                raise UsageError('data check takes no archives (data prepare does)')
            builtin = os.path.exists(os.path.join(root, '.umixformer-synthetic.json'))
            check = verify(args.target, root, cache, workers, progress, expect_official=not builtin)
    finally:
        progress.close()
    print_check(check, console)
    if check.problems():
        if args.table == 'prepare':
            console.print(f'nothing was placed at {root}: the extracted files stay in {partial_dir(root)}',
                          highlight=False)
        return 1
    if args.table == 'prepare':
        console.print(f'{args.target} ready at {root}: give it as --data-root {args.target}={root}', highlight=False)
    return 0


def cmd_cityscapes_c(args, console) -> int:
    roots = data_roots(args.data_root)
    if 'cityscapes' not in roots or not args.out:
        raise UsageError('cityscapes-c needs --data-root cityscapes=PATH (the source) and --out DIR')
    corruptions = args.corruptions or list(CORRUPTIONS)
    return make_backend(args).cityscapes_c(roots['cityscapes'], args.out, corruptions, Store(args.runs_dir),
                                           args.cityscapes_c_protocol, console)
