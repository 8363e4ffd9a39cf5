"""Every ``UMIX_*`` environment variable the suite, its jobs, tools and tests read, in one
table: what it does, who sets it and what values it takes. The README's list of the ones a
user sets is checked against it (``tests/test_environment.py``), and so is the source (no
other ``UMIX_*`` name).

The suite reads a variable through ``value(name)``: parsed by its declared parser, so a bad
value (``UMIX_STALE_AFTER_S=-10``, ``UMIX_HEARTBEAT_S=abc``, an empty ``UMIX_RUNS``) is
refused in one line naming the variable; ``run-experiment`` checks every one that is set
before anything starts (``check_all``)."""
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

from experiments.core.errors import UsageError

USER, JOB, TOOLS, TESTS = 'user', 'job', 'tools', 'tests'


@dataclass(frozen=True)
class Variable:
    """One variable.

    Args:
        name: ``UMIX_...``.
        meaning: What it sets, and its default.
        who: Who sets it: 'user' (documented in the README), 'job' (the suite sets it for the
            processes it starts: a SLURM job's script), 'tools' (tools/: install, GPU check,
            benchmarks) or 'tests'.
        parse: Its text -> its value, raising ValueError with what it takes (None: any text).
    """
    name: str
    meaning: str
    who: str = USER
    parse: Optional[Callable[[str], Any]] = None


class VariableError(UsageError):
    """A ``UMIX_*`` variable whose value the suite does not take."""


def _number(kind: type, low: float, what: str) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f'takes {what}') from None
        if not value >= low or math.isinf(value):  # NaN is not >= anything
            raise ValueError(f'takes {what}')
        return value
    return parse


def _path(text: str) -> str:
    if not text.strip():
        raise ValueError('is empty: unset it for the default, or name a path')
    return text


SECONDS = _number(float, 1e-3, 'a number of seconds above 0')
COUNT = _number(int, 1, 'a whole number of at least 1')


VARIABLES: Tuple[Variable, ...] = (
    Variable('UMIX_RUNS', 'the results store and run folders (--runs-dir; default ./runs)', parse=_path),
    Variable('UMIX_TABLES', 'extra folders of table files, separated by ":" (also --tables)'),
    Variable('UMIX_ADE20K_ROOT', 'the ADE20K root (--data-root ade20k=...; default mmseg\'s data/ade/ADEChallengeData2016)'),
    Variable('UMIX_CITYSCAPES_ROOT', 'the Cityscapes root (--data-root cityscapes=...; default mmseg\'s data/cityscapes)'),
    Variable('UMIX_CITYSCAPES_C_ROOT', 'Cityscapes-C generated elsewhere (default: generated beside the runs)',
             parse=_path),
    Variable('UMIX_WEIGHTS', 'the pretrained encoder weights folder (--weights-dir; default <runs-dir>/weights)',
             parse=_path),
    Variable('UMIX_WEIGHTS_MANIFEST', 'a weights manifest of your own instead of experiments/weights.toml',
             parse=_path),
    Variable('UMIX_SLURM_PROFILE', 'the cluster profile (--slurm-profile)', parse=_path),
    Variable('UMIX_PLUGINS', 'modules to import first (comma-separated): your stages, options, metrics, backends'),
    Variable('UMIX_LATENCY_WARMUP', 'latency: untimed warm-up runs (default: 5 images for mmseg\'s benchmark; 10 on '
             'a GPU, 2 on a CPU for the single-image and ONNX Runtime protocols); the record states them',
             parse=_number(int, 0, 'a whole number of at least 0')),
    Variable('UMIX_LATENCY_IMAGES', 'latency: images mmseg\'s benchmark times (default 200)', parse=COUNT),
    Variable('UMIX_LATENCY_RUNS', 'latency: timed runs of the single-image and ONNX Runtime protocols (default 50 '
             'on a GPU, 10 on a CPU)', parse=COUNT),
    Variable('UMIX_HEARTBEAT_S', 'seconds between a running task\'s lease heartbeats (default 30)', parse=SECONDS),
    Variable('UMIX_STALE_AFTER_S', 'a lease without a heartbeat for this long is taken over (default 10 heartbeats; '
             'more than one heartbeat, else a live task is taken over)', parse=SECONDS),
    Variable('UMIX_TORCH', 'install: the torch requirement (default torch==2.13.0; a CUDA build found is kept)'),
    Variable('UMIX_VENV', 'install: the virtual environment\'s folder (default .venv)'),
    Variable('UMIX_LAUNCHER', 'slurm: the job\'s processes were started by srun (one per GPU)', JOB),
    Variable('UMIX_TASK_LOG', 'the SLURM log a job task writes (its output is the log)', JOB),
    Variable('UMIX_PREEMPT_SIGNALS', 'the signals a job treats as the preemption warning', JOB),
    Variable('UMIX_REQUIRE_TOOLS', 'install-system: fail if pdflatex, Chromium or SLURM cannot be installed (CI)',
             TOOLS),
    Variable('UMIX_GPU_CHECK_BUDGET', 'GPU check: seconds of device time it may spend', TOOLS),
    Variable('UMIX_GPU_CHECK_DEADLINE', 'GPU check: seconds after its start when no section starts', TOOLS),
    Variable('UMIX_GPU_CHECK_RESUMED', 'GPU check: the resumed training\'s process marks itself', TOOLS),
    Variable('UMIX_GPU_CHECK_SITE', 'GPU check: where its packages are installed', TOOLS),
    Variable('UMIX_GPU_CHECK_WHEELS', 'GPU check: the folder of carried wheels', TOOLS),
    Variable('UMIX_SIM', 'GPU check dry run: the simulated device machine\'s folder', TOOLS),
    Variable('UMIX_TEST_HOLD_AT_ITER', 'tests: a training waits at this iteration (preemption tests)', TESTS),
    Variable('UMIX_TEST_THREADS', 'tests: torch threads per test worker', TESTS),
    Variable('UMIX_UPDATE_FIXTURES', 'tests: rewrite the stored sbatch fixtures', TESTS),
    Variable('UMIX_WRITE_GOLDEN', 'tests: rewrite tests/data/golden.json (after bumping a StageSpec.version)', TESTS),
    Variable('UMIX_WRITE_KEYS', 'tests: rewrite tests/data/record-keys.txt (on purpose only)', TESTS),
)


def variable(name: str) -> Variable:
    for v in VARIABLES:
        if v.name == name:
            return v
    raise KeyError(f'{name} is not in experiments.core.environment.VARIABLES')


def value(name: str, default: Any = None) -> Any:
    """The variable's value, parsed as declared (``default`` where it is unset); a value it
    does not take is refused naming it (``VariableError``: exit 2, one line)."""
    text = os.environ.get(name)
    if text is None:
        return default
    parse = variable(name).parse
    if parse is None:
        return text
    try:
        return parse(text)
    except ValueError as err:
        raise VariableError(f'${name}={text!r} {err} ({variable(name).meaning}); correct or unset it') from None


def check_all() -> None:
    """Every set variable's value, parsed as declared, and how they go together: refused
    before any command starts."""
    for v in VARIABLES:
        value(v.name)
    heartbeat = value('UMIX_HEARTBEAT_S', 30.0)
    stale = value('UMIX_STALE_AFTER_S')
    if stale is not None and stale <= heartbeat:
        raise VariableError(f'$UMIX_STALE_AFTER_S={os.environ["UMIX_STALE_AFTER_S"]!r} is not more than the heartbeat '
                                f'($UMIX_HEARTBEAT_S, {heartbeat:g} s): a task that is alive would be taken over '
                                'by another process; give more (default: 10 heartbeats) or unset it')
