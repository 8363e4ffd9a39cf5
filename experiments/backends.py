"""Where tasks run: the one interface the CLI chooses a backend through.

Imports run one way: a backend imports the core (registry, tasks, store,
executor); the core imports no backend, and the CLI names them here only (the
local one in ``experiments.local``, SLURM in ``slurm/``)."""
import importlib
from typing import Callable, Dict, List, Sequence, Type

from .store import Store
from .tasks import Task

BACKENDS = {'local': 'experiments.local:LocalBackend', 'slurm': 'slurm.backend:SlurmBackend'}


class BackendError(RuntimeError):
    """A backend cannot do what was asked: a tool missing, a bad cluster profile,
    a rejected submission. The message says what is wrong and how to fix it."""


class Backend:
    """Runs (or submits) planned tasks.

    Args:
        args: The parsed command line (backend options such as ``--slurm``).
        command_for (Callable[[Task], str]): The command that reproduces one
            task, as its record states it.
        argv_for (Callable[[Task], List[str]]): The ``run-experiment`` arguments
            that recompute exactly one task here (what a cluster job runs).
        status_hint (str): The ``run-experiment status ...`` command for this run.
    """

    name = ''

    def __init__(self, args, command_for: Callable[[Task], str], argv_for: Callable[[Task], List[str]],
                 status_hint: str) -> None:
        self.args = args
        self.command_for = command_for
        self.argv_for = argv_for
        self.status_hint = status_hint

    def describe(self, table, tasks: List[Task], store: Store, console) -> None:
        """What `plan` prints below the task table (scripts, dependencies)."""

    def run(self, table, tasks: List[Task], store: Store, console, report: Callable[[], None]) -> int:
        """Runs or submits what is not done; ``report`` prints the comparison once
        results are in. Returns the exit status."""
        raise NotImplementedError

    @staticmethod
    def jobs(store: Store, keys: Sequence[str]) -> Dict[str, dict]:
        """Key -> {job, log, state} of the tasks this backend queued (status):
        read from the store and the scheduler, whichever command submitted them."""
        return {}

    def cityscapes_c(self, source: str, out: str, corruptions: Sequence[str], store: Store, protocol: str,
                     console) -> int:
        """Generates Cityscapes-C; the default is on this machine."""
        raise NotImplementedError


def backend_class(name: str) -> Type[Backend]:
    if name not in BACKENDS:
        raise BackendError(f'unknown backend {name!r}; known: {", ".join(BACKENDS)}')
    module, _, cls = BACKENDS[name].partition(':')
    return getattr(importlib.import_module(module), cls)


def get_backend(name: str, args, command_for: Callable[[Task], str], argv_for: Callable[[Task], List[str]],
                status_hint: str) -> Backend:
    return backend_class(name)(args, command_for, argv_for, status_hint)
