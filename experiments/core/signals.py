"""The preemption signal, named without importing torch or mmseg (a cluster profile is
checked on a login node)."""
import signal

# SLURM's warning before the time limit (--signal=B:<sig>@T): USR2 by default, as
# submitit, since some NCCL versions install their own SIGUSR1 handler
DEFAULT_SIGNAL = 'USR2'


class Preempted(Exception):
    """Training stopped on a preemption/time-limit warning after a checkpoint."""


def signal_number(name: str) -> int:
    """'USR2', 'SIGUSR2' or '12' -> the signal number; ValueError otherwise."""
    name = name.strip().upper()
    if name.isdigit():
        return signal.Signals(int(name)).value
    return signal.Signals[name if name.startswith('SIG') else 'SIG' + name].value


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM: the task is recorded as interrupted, then the run stops (the
    same command resumes it)."""

    def __init__(self, signal_name: str = 'SIGINT') -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
