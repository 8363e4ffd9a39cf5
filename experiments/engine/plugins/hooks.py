"""mmengine hooks of the suite."""
import os
import random
import signal
import time
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from experiments.core.console import report_progress
from experiments.core.signals import DEFAULT_SIGNAL, Preempted, signal_number
from experiments.engine.plugins.checkpoints import ATOMIC_BACKEND, AtomicLocalBackend
from experiments.engine.plugins.resume import resume_at


@HOOKS.register_module()
class PreemptionCheckpointHook(Hook):
    """On a preemption or time-limit warning, save a resumable checkpoint after
    the current iteration and stop with :class:`Preempted`; under SLURM the batch
    script then requeues the job (or SLURM does, on preemption) and the training
    resumes from that checkpoint.

    Args:
        signals (Sequence[str], optional): The signals to watch. Default: the
            comma-separated names in ``$UMIX_PREEMPT_SIGNALS`` (the batch script
            sets the cluster profile's ``signal`` and TERM, which SLURM sends on
            preemption and ``scontrol requeue``), else ``USR2``.
        decide_every (int): With several processes, they decide together every
            this many iterations (an all-reduce and a host sync each time); a
            single process decides after every iteration (no sync). Default: 10.
    """

    priority = 'VERY_LOW'  # after the other hooks of the iteration (scheduler step, CheckpointHook)

    def __init__(self, signals: Optional[Sequence[str]] = None, decide_every: int = 10) -> None:
        names = signals or os.environ.get('UMIX_PREEMPT_SIGNALS', DEFAULT_SIGNAL).split(',')
        self.signums = [signal_number(n) for n in names]
        # several processes agree on stopping with an all-reduce and a host sync: once
        # every N iterations, not every one (the warning comes minutes ahead)
        self.decide_every = decide_every
        self.requested = False
        self._previous = {}

    def before_train(self, runner) -> None:
        def handler(signum, frame):
            self.requested = True
        for num in self.signums:
            self._previous[num] = signal.signal(num, handler)

    def after_train(self, runner) -> None:
        for num, previous in self._previous.items():
            signal.signal(num, previous)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        # For tests only: $UMIX_TEST_HOLD_AT_ITER=N holds the training before iteration N
        # (after iteration N's checkpoint) until a signal arrives (a preemption signal, or
        # SIGINT, which interrupts the wait), so that a fast run cannot finish first.
        hold = os.environ.get('UMIX_TEST_HOLD_AT_ITER')
        first_run = os.environ.get('SLURM_RESTART_COUNT', '0') == '0'  # not again once requeued
        if hold and first_run and runner.iter == int(hold) and not self.requested:
            end = time.time() + 600
            while not self.requested and time.time() < end:
                time.sleep(0.05)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not _agreed(self.requested, (runner.iter + 1) % self.decide_every == 0):
            return
        # runner.iter is the iteration just finished (0-based): the checkpoint holds
        # runner.iter + 1 iterations. by_epoch=False makes its meta say so; Runner's
        # default (True) records runner.iter, and the resume repeated one iteration.
        from mmengine.dist import is_main_process
        filename = f'iter_{runner.iter + 1}.pth'
        runner.save_checkpoint(runner.work_dir, filename, save_optimizer=True, save_param_scheduler=True,
                               by_epoch=False, backend_args=ATOMIC_BACKEND)
        path = os.path.join(runner.work_dir, filename)
        if is_main_process():
            AtomicLocalBackend().put_text(path, os.path.join(runner.work_dir, 'last_checkpoint'))
        runner.logger.info(f'preemption warning: saved {path}; stopping to be requeued')
        raise Preempted(path)


def _agreed(flag: bool, decide_now: bool) -> bool:
    """Whether any rank was signalled (all ranks then stop at the same iteration;
    one rank stopping alone would leave the others waiting in all-reduce). Several
    ranks decide only where ``decide_now`` (the same iterations on every rank)."""
    from mmengine.dist import get_world_size
    if get_world_size() == 1:
        return flag
    if not decide_now:
        return False
    import torch.distributed as dist
    from mmengine.dist import get_comm_device
    t = torch.tensor([int(flag)], device=get_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Saves the random number generators' states (torch, CUDA, numpy, random) in
    every checkpoint and restores them on resume, so that a resumed training draws
    the same dropout, drop-path and augmentation numbers as an uninterrupted one.

    The training loader is positioned (``experiments.engine.plugins.resume``): on resume it
    starts at the resumed iteration without reading the skipped batches, and the
    states are restored before the first new batch. A loader that is not positioned
    is replayed by mmengine's loop first (with ``num_workers = 0`` that replay runs
    the pipeline's random transforms in this process, so the states are restored
    after it)."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._saved = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # as numpy arrays, not tensors: mmengine's resume loads a checkpoint onto the
        # current device (map_location), which would turn tensors into CUDA tensors
        checkpoint['rng_state'] = dict(
            torch=torch.get_rng_state().numpy(), numpy=np.random.get_state(), python=random.getstate(),
            cuda=[s.numpy() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else None)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._saved = checkpoint.get('rng_state')

    def before_train_epoch(self, runner) -> None:
        if self._saved is None:
            return
        loop, saved = runner.train_loop, self._saved
        self._saved = None
        if resume_at(loop, lambda: restore_rng_states(saved)):  # positioned: nothing is read again
            return
        replay = loop.iter  # IterBasedTrainLoop.run() calls next() this many times right after this hook
        loop.dataloader_iterator = _RestoreAfter(loop.dataloader_iterator, replay, saved)


def _byte_tensor(state) -> torch.Tensor:
    """A generator state as the CPU ByteTensor torch wants, whether it was saved as a
    numpy array or (checkpoints of earlier versions) a tensor loaded onto a GPU."""
    if isinstance(state, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(state, dtype=np.uint8))
    return state.to(device='cpu', dtype=torch.uint8)


def restore_rng_states(state: dict) -> None:
    """Restores torch's, numpy's and Python's generators, and the CUDA generators of
    the devices visible now: a checkpoint written where 8 GPUs were visible resumes
    where one is (each process drives one device; the others' states are unused)."""
    torch.set_rng_state(_byte_tensor(state['torch']))
    np.random.set_state(state['numpy'])
    random.setstate(state['python'])
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available():
        for index, s in enumerate(cuda[:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(_byte_tensor(s), device=index)


class _RestoreAfter:
    """Passes batches through; after the first ``n``, restores the saved states."""

    def __init__(self, iterator, n: int, state: dict) -> None:
        self._it, self._n, self._state = iterator, n, state

    def __iter__(self):
        return self

    def __next__(self):
        if self._n == 0 and self._state is not None:
            s, self._state = self._state, None
            restore_rng_states(s)
        self._n -= 1
        return next(self._it)

    def __getattr__(self, name):  # the rest of mmengine's iterator (e.g. _iterator, _dataloader)
        return getattr(self._it, name)


@HOOKS.register_module()
class ProgressReportHook(Hook):
    """Reports training and evaluation progress to the suite's console
    (``experiments.core.console.report_progress``): iteration / total and the loss."""

    priority = 'VERY_LOW'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = outputs.get('loss') if isinstance(outputs, dict) else None
        info = f'loss {float(loss):.3f}' if loss is not None else ''
        report_progress('train', runner.iter + 1, runner.max_iters, info)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        report_progress('test', batch_idx + 1, len(runner.test_dataloader))


@HOOKS.register_module()
class TestScalarsHook(Hook):
    """Sends the test's metrics to the visualizer's backends (the local scalars.json and
    any ``--tracker``): mmengine logs a test's metrics to its text and JSON logs only."""

    priority = 'LOW'

    def after_test_epoch(self, runner, metrics=None) -> None:
        scalars = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float, np.number))}
        if scalars:
            runner.visualizer.add_scalars(scalars, step=runner.iter)
