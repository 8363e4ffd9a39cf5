"""mmengine hooks of the suite."""
import os
import signal
import time

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


class Preempted(Exception):
    """Training stopped on a preemption/time-limit warning after a checkpoint."""


@HOOKS.register_module()
class PreemptionCheckpointHook(Hook):
    """On SIGUSR1 (SLURM's warning before the time limit or a preemption,
    ``--signal=B:USR1@T`` forwarded by the batch script), save a resumable
    checkpoint after the current iteration and stop with :class:`Preempted`;
    the job then requeues itself and resumes from that checkpoint.

    Args:
        signum (int): The signal to watch. Default: SIGUSR1.
    """

    priority = 'VERY_LOW'  # after the other hooks of the iteration

    def __init__(self, signum: int = signal.SIGUSR1) -> None:
        self.signum = signum
        self.requested = False

    def before_train(self, runner) -> None:
        def handler(signum, frame):
            self.requested = True
        signal.signal(self.signum, handler)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        # For tests of preemption only: $UMIX_TEST_HOLD_AT_ITER=N holds the training
        # before iteration N (after iteration N's checkpoint) until the signal arrives,
        # so that a fast run cannot finish before it is preempted.
        hold = os.environ.get('UMIX_TEST_HOLD_AT_ITER')
        first_run = os.environ.get('SLURM_RESTART_COUNT', '0') == '0'  # not again once requeued
        if hold and first_run and runner.iter == int(hold) and not self.requested:
            end = time.time() + 600
            while not self.requested and time.time() < end:
                time.sleep(0.05)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self.requested:
            return
        filename = f'iter_{runner.iter + 1}.pth'
        runner.save_checkpoint(runner.work_dir, filename, save_optimizer=True, save_param_scheduler=True)
        path = os.path.join(runner.work_dir, filename)
        tmp = os.path.join(runner.work_dir, 'last_checkpoint.part')
        with open(tmp, 'w') as f:
            f.write(path)
        os.replace(tmp, os.path.join(runner.work_dir, 'last_checkpoint'))
        runner.logger.info(f'preemption warning: saved {path}; stopping to be requeued')
        raise Preempted(path)


@HOOKS.register_module()
class ProgressReportHook(Hook):
    """Reports training and evaluation progress to the suite's console
    (``experiments.console.report_progress``): iteration / total and the loss."""

    priority = 'VERY_LOW'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        from .console import report_progress
        loss = outputs.get('loss') if isinstance(outputs, dict) else None
        info = f'loss {float(loss):.3f}' if loss is not None else ''
        report_progress('train', runner.iter + 1, runner.max_iters, info)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        from .console import report_progress
        report_progress('test', batch_idx + 1, len(runner.test_dataloader))
