"""Where tasks run: the one interface the CLI chooses a backend through.

Imports run one way: a backend imports the layers below (planning, the engine, the
store); nothing below imports a backend, and backends are named here only, by module
path (the local one in ``experiments.backends.local``, SLURM in ``slurm/``), so that
choosing one imports only it."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, Type

from experiments.core.errors import SuiteError
from experiments.store import Store

if TYPE_CHECKING:  # annotations only: naming a backend (or checking a cluster profile) loads no model code
    from experiments.planning.tasks import Task

# name -> 'module:Class', imported when chosen; ``register_backend`` adds one
BACKENDS = {'local': 'experiments.backends.local:LocalBackend', 'slurm': 'slurm.backend:SlurmBackend'}


def register_backend(name: str, where: str) -> None:
    """Adds a backend: ``where`` is 'module:Class' of a ``Backend`` subclass (imported when
    chosen with ``--backend NAME``, and by ``status`` for the jobs it queued)."""
    if name in BACKENDS:
        raise ValueError(f'backend {name!r} is registered already')
    if ':' not in where:
        raise ValueError(f'backend {name!r}: give its class as module:Class, got {where!r}')
    BACKENDS[name] = where


def backend_names() -> Tuple[str, ...]:
    return tuple(BACKENDS)


class BackendError(SuiteError, RuntimeError):
    """A backend cannot do what was asked: a tool missing, a bad cluster profile,
    a rejected submission. The message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class BackendOptions:
    """How a backend runs what planning chose.

    Args:
        slurm_profile: The cluster profile file (SLURM).
        slurm: ``KEY=VALUE`` overrides of the cluster profile.
        tables: Extra table folders (absolute), for the jobs to re-plan from.
        wait: Wait for records another process is computing (local).
        workers: Processes for Cityscapes-C generation (default: the CPUs this job may use).
        rerun: The command that runs this again (printed when tasks fail).
        status: The ``run-experiment status ...`` command for this run.
        calibration: The device whose calibrations size SLURM's ``--time`` (default: the profile's).
    """
    slurm_profile: Optional[str] = None
    slurm: Tuple[str, ...] = ()
    tables: Tuple[str, ...] = ()
    wait: bool = False
    workers: Optional[int] = None
    rerun: str = ''
    status: str = ''
    calibration: str = ''


class Backend:
    """Runs (or submits) planned tasks.

    Args:
        options (BackendOptions): How to run.
        command_for (Callable[[Task], str]): The command that reproduces one
            task, as its record states it.
        argv_for (Callable[[Task], List[str]]): The ``run-experiment`` arguments
            that recompute exactly one task here (what a cluster job runs).
    """

    name = ''

    def __init__(self, options: BackendOptions, command_for: Callable[[Task], str],
                 argv_for: Callable[[Task], List[str]]) -> None:
        self.options = options
        self.command_for = command_for
        self.argv_for = argv_for

    def describe(self, table, tasks: List[Task], store: Store, console) -> None:
        """What `plan` prints below the task table (scripts, dependencies)."""

    def gpu_memory_gb(self, stage: str) -> Optional[float]:
        """The memory of one GPU that runs ``stage`` (None: unknown, or no GPU)."""
        return None

    def check(self) -> None:
        """Raises ``BackendError`` if this backend cannot run anything now (a scheduler
        that does not answer); called before the datasets are prepared and ``run``."""

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


def get_backend(name: str, options: BackendOptions, command_for: Callable[[Task], str],
                argv_for: Callable[[Task], List[str]]) -> Backend:
    return backend_class(name)(options, command_for, argv_for)
