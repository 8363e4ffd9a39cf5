"""Every ``UMIX_*`` environment variable the suite, its jobs, tools and tests read, in one
table: what it does and who sets it. The README's list of the ones a user sets is checked
against it (``tests/test_environment.py``), and so is the source (no other ``UMIX_*`` name)."""
from dataclasses import dataclass
from typing import Tuple

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
    """
    name: str
    meaning: str
    who: str = USER


VARIABLES: Tuple[Variable, ...] = (
    Variable('UMIX_RUNS', 'the results store and run folders (--runs-dir; default ./runs)'),
    Variable('UMIX_TABLES', 'extra folders of table files, separated by ":" (also --tables)'),
    Variable('UMIX_ADE20K_ROOT', 'the ADE20K root (--data-root ade20k=...; default mmseg\'s data/ade/ADEChallengeData2016)'),
    Variable('UMIX_CITYSCAPES_ROOT', 'the Cityscapes root (--data-root cityscapes=...; default mmseg\'s data/cityscapes)'),
    Variable('UMIX_CITYSCAPES_C_ROOT', 'Cityscapes-C generated elsewhere (default: generated beside the runs)'),
    Variable('UMIX_WEIGHTS', 'the pretrained encoder weights folder (--weights-dir; default <runs-dir>/weights)'),
    Variable('UMIX_WEIGHTS_MANIFEST', 'a weights manifest of your own instead of experiments/weights.toml'),
    Variable('UMIX_SLURM_PROFILE', 'the cluster profile (--slurm-profile)'),
    Variable('UMIX_PLUGINS', 'modules to import first (comma-separated): your stages, options, metrics, backends'),
    Variable('UMIX_LATENCY_WARMUP', 'latency: untimed warm-up runs (default: 5 images for mmseg\'s benchmark; 10 on '
             'a GPU, 2 on a CPU for the single-image and ONNX Runtime protocols); the record states them'),
    Variable('UMIX_LATENCY_IMAGES', 'latency: images mmseg\'s benchmark times (default 200)'),
    Variable('UMIX_LATENCY_RUNS', 'latency: timed runs of the single-image and ONNX Runtime protocols (default 50 '
             'on a GPU, 10 on a CPU)'),
    Variable('UMIX_HEARTBEAT_S', 'seconds between a running task\'s lease heartbeats (default 30)'),
    Variable('UMIX_STALE_AFTER_S', 'a lease without a heartbeat for this long is taken over (default 10 heartbeats)'),
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
    Variable('UMIX_WRITE_KEYS', 'tests: rewrite tests/data/record-keys.txt (on purpose only)', TESTS),
)


def variable(name: str) -> Variable:
    for v in VARIABLES:
        if v.name == name:
            return v
    raise KeyError(f'{name} is not in experiments.core.environment.VARIABLES')
