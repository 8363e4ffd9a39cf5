"""Where tasks run: the one interface the CLI chooses a backend through.

Imports run one way: a backend imports the layers below (planning, the engine, the
store); nothing below imports a backend, and backends are named here only, by module
path (the local one in ``experiments.backends.local``, SLURM in ``slurm/``), so that
choosing one imports only it."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Type

from experiments.core.errors import SuiteError
from experiments.core.stages import imported
from experiments.planning.options import Option, register_option
from experiments.store import Store

if TYPE_CHECKING:  # annotations only: naming a backend (or checking a cluster profile) loads no model code
    from experiments.planning.tasks import Task

# name -> 'module:Class', imported when chosen; ``register_backend`` adds one
BACKENDS: Dict[str, str] = {}
QUEUEING: List[str] = []  # the backends whose jobs `status` asks about (their class's ``jobs``)
BACKEND_COMMANDS = frozenset({'plan', 'run', 'cityscapes-c'})  # the commands that take --backend


def register_backend(name: str, where: str, options: Sequence[Option] = (), queues: bool = True) -> None:
    """Adds a backend: ``where`` is 'module:Class' of a ``Backend`` subclass (imported when
    chosen with ``--backend NAME``, and, if it ``queues`` jobs, by ``status`` for the jobs it
    queued); ``options``: its own options (``Option(..., stages=(), backend=NAME)``), declared
    here so that the command line knows them before the class is imported; the backend reads
    their values in ``self.options.settings``."""
    if name in BACKENDS:
        raise ValueError(f'backend {name!r} is registered already')
    if ':' not in where:
        raise ValueError(f'backend {name!r}: give its class as module:Class, got {where!r}')
    for opt in options:
        register_option(replace(opt, backend=name, stages=(), in_key='none'))
    BACKENDS[name] = where
    if queues:
        QUEUEING.append(name)


def backend_names() -> Tuple[str, ...]:
    return tuple(BACKENDS)


class BackendError(SuiteError, RuntimeError):
    """A backend cannot do what was asked: a tool missing, a bad cluster profile,
    a rejected submission. The message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class BackendOptions:
    """How a backend runs what planning chose.

    Args:
        settings: The backends' own options (option name -> value), e.g. SLURM's
            ``slurm_profile`` and ``slurm`` (``KEY=VALUE`` overrides of the cluster profile).
        tables: Extra table folders (absolute), for the jobs to re-plan from.
        wait: Wait for records another process is computing (local).
        workers: Processes for Cityscapes-C generation (default: the CPUs this job may use).
        rerun: The command that runs this again (printed when tasks fail).
        status: The ``run-experiment status ...`` command for this run.
        calibration: The device whose calibrations size SLURM's ``--time`` (default: the profile's).
    """
    settings: Mapping[str, Any] = field(default_factory=dict)
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
        """Generates Cityscapes-C (the local backend on this machine, SLURM as an array job);
        a backend that cannot says so in one line."""
        raise BackendError(f'the {self.name or type(self).__name__} backend does not generate Cityscapes-C; '
                           'run `run-experiment cityscapes-c` with --backend local (this machine) or --backend slurm')


def backend_class(name: str) -> Type[Backend]:
    if name not in BACKENDS:
        raise BackendError(f'unknown backend {name!r}; known: {", ".join(BACKENDS)}')
    return imported(BACKENDS[name])


def get_backend(name: str, options: BackendOptions, command_for: Callable[[Task], str],
                argv_for: Callable[[Task], List[str]]) -> Backend:
    return backend_class(name)(options, command_for, argv_for)


register_backend('local', 'experiments.backends.local:LocalBackend', queues=False)  # runs here, queues nothing
register_backend('slurm', 'slurm.backend:SlurmBackend', options=(
    Option('slurm_profile', None, 'cluster profile (TOML, see slurm/profiles/example.toml; also $UMIX_SLURM_PROFILE)',
           (), commands=BACKEND_COMMANDS),
    Option('slurm', (), 'override a cluster-profile key, e.g. --slurm partition=debug --slurm time=10', (),
           commands=BACKEND_COMMANDS, repeat=True, metavar='KEY=VALUE'),
))
