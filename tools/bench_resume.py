"""Time from a resumed training's start to its first new iteration, at two depths.

    python tools/bench_resume.py [--at 20,2000] [--workers 0] [--out runs/bench-resume]

The tiny profile's U-MixFormer-B0 row (Table 1) trains 20 iterations on the built-in
data; its checkpoint is then resumed as if written at iteration N (the loop's position in
the checkpoint set to N, the schedule extended), once by mmengine's own resume (its loop
calls ``next()`` on the data loader N times: every skipped batch is read, decoded and
augmented) and once by the suite's (``experiments.engine.plugins.resume``: the sampler starts at
N x batch, nothing is read again). Printed: seconds from ``runner.train()`` to the end of
the first new iteration, and the samples the loader read.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from experiments.engine.plugins import hooks  # noqa: E402,F401  (registers ExactResumeHook)
from experiments.engine.process.executor import prepare_data  # noqa: E402
from experiments.engine.plugins.resume import PositionedRunner  # noqa: E402
from experiments.engine.compute.stages import stop_loader_workers  # noqa: E402
from mmengine.dataset import BaseDataset  # noqa: E402
from experiments.planning.options import PlanOptions  # noqa: E402
from experiments.planning.select import select  # noqa: E402
from umixformer.safe_load import load  # noqa: E402


class FirstIteration(Hook):
    """Stops the clock (and the training) after the first iteration it sees."""

    def __init__(self, t0):
        self.t0, self.seconds = t0, None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.t0[0]
            runner.train_loop.stop_training = True


def runner_for(task, work, runner_cls, max_iters, workers, resume_from=None, hook=None):
    cfg = task.cfg.copy()
    cfg.work_dir = work
    cfg.train_cfg.max_iters = max_iters
    cfg.train_dataloader.num_workers = workers
    cfg.train_dataloader.persistent_workers = workers > 0
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=20, by_epoch=False)
    cfg.custom_hooks = [dict(type='ExactResumeHook')]
    cfg.experiment_name = f'{os.path.basename(work)}-{time.time_ns()}'
    cfg.visualizer = dict(type='SegLocalVisualizer', name=cfg.experiment_name)
    cfg.log_level = 'WARNING'
    if resume_from:
        cfg.resume, cfg.load_from = True, resume_from
    runner = runner_cls.from_cfg(cfg)
    if hook is not None:
        runner.register_hook(hook, 'LOWEST')
    return runner


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--at', default='20,2000')
    p.add_argument('--workers', type=int, default=0)
    p.add_argument('--out', default='runs/bench-resume')
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    options = PlanOptions(table='table1', rows=('umixformer_mit-b0_ade20k', ), stages=('train', ), profile='tiny',
                          runs_dir=os.path.abspath(args.out))
    _, _, _, store, (task, ) = select(options)
    prepare_data([task], store)
    base = os.path.join(store.root, 'bench', 'start')
    ckpt = os.path.join(base, 'iter_20.pth')
    if not os.path.exists(ckpt):
        start = runner_for(task, base, PositionedRunner, 20, args.workers)
        start.train()
        stop_loader_workers(start)
    reads = [0]
    original = BaseDataset.__getitem__

    def counted(self, idx):  # every sample a loader reads in this process
        reads[0] += 1
        return original(self, idx)
    BaseDataset.__getitem__ = counted
    for n in (int(x) for x in args.at.split(',')):
        state = load(ckpt, 'cpu')
        state['meta']['iter'] = n
        at = os.path.join(store.root, 'bench', f'iter_{n}.pth')
        torch.save(state, at)
        for name, cls in (('mmengine (replay)', Runner), ('suite (positioned)', PositionedRunner)):
            t0 = [0.0]
            hook = FirstIteration(t0)
            runner = runner_for(task, os.path.join(store.root, 'bench', f'{n}-{cls.__name__}'), cls, n + 1,
                                args.workers, at, hook)
            reads[0] = 0
            t0[0] = time.perf_counter()
            runner.train()
            samples = reads[0]
            stop_loader_workers(runner)  # not joined inside the next measurement
            read = f'{samples} samples read' if not args.workers else 'read in the workers'
            print(f'resume at iteration {n:5d}, {name:18s}: first new iteration after {hook.seconds:7.2f} s, '
                  f'{read} (workers {args.workers})', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
