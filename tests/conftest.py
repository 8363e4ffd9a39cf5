import fcntl
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(ROOT, 'experiments', 'configs')
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')

# torch's math threads per test process: this machine's CPUs shared among pytest-xdist's
# workers (`make test`: 3 workers on 2 cores, 1 thread each; the threads of several
# processes on the same cores slow them all). A value set before pytest started is kept.
if 'OMP_NUM_THREADS' not in os.environ or os.environ.get('UMIX_TEST_THREADS') == os.environ['OMP_NUM_THREADS']:
    _workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    os.environ['OMP_NUM_THREADS'] = os.environ['UMIX_TEST_THREADS'] = str(
        max(1, min(2, len(os.sched_getaffinity(0)) // _workers)))

# Files started first under pytest-xdist (`--dist loadfile`, one worker per file): the
# longest ones, so that no worker starts a long file when the others are nearly done
# (seconds on 2 cores, `pytest --durations`). Only the order changes.
LONGEST_FIRST = ('test_every_row.py', 'test_smoke.py', 'test_every_row_table2.py', 'test_slurm.py',
                 'test_run_experiment.py', 'test_preemption.py',
                 'test_complexity.py', 'test_store.py', 'test_extending.py', 'test_gpu_check.py',
                 'test_fused_training.py')


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.path)), len(rank)))  # stable


def model_configs():
    """Every runnable model config of the suite (not the _base_ fragments)."""
    out = []
    for dirpath, _, files in os.walk(CONFIG_DIR):
        if '_base_' in dirpath.split(os.sep):
            continue
        out += [os.path.join(dirpath, f) for f in files if f.endswith('.py')]
    return sorted(out)


@pytest.fixture(scope='session', autouse=True)
def _register():
    import umixformer  # noqa: F401
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)


def made_once(tmp_path_factory, name: str, make: Callable[[Path], object]) -> Path:
    """The folder ``name``, made by ``make(folder)`` once per test run: under pytest-xdist
    the first worker that asks makes it and the others wait for it on a lock (the
    pattern of pytest-xdist's docs for session fixtures), so that e.g. a training shared
    by seven test files runs once, not once per worker. A folder whose making failed is
    made again by the next worker that asks. Its users read it (or copy it to change it)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        base = base.parent  # the run's folder, above this worker's own popen-gwN
    folder, done = base / name, base / f'{name}.done'
    with open(base / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope='session', autouse=True)
def builtin_data_once(tmp_path_factory):
    """The built-in datasets at their default parameters are generated once per session;
    every runs folder that needs one gets a copy (written beside it and renamed into
    place, as the generator does) instead of generating it again: 1.3 s for ADE20K and
    5.0 s for Cityscapes, in dozens of tests. The generator is deterministic, and
    ``test_data_prepare.py::test_the_session_copy_is_a_fresh_generation`` compares a copy
    with a fresh generation file by file. Only the data check's call is replaced (in this
    process): tests that call ``experiments.data.datasets.generate_synthetic`` themselves
    get the generator; a root that is not new gets the generator's own checks. Under
    pytest-xdist the workers share the one generation (``made_once``)."""
    import tempfile

    from experiments.data import check
    generate = check.generate_synthetic

    def copy_of_one_generation(dataset: str, root: str) -> str:
        if os.path.exists(root) and os.listdir(root):
            return generate(dataset, root)
        src = made_once(tmp_path_factory, f'builtin-{dataset}', lambda folder: generate(dataset, str(folder)))
        parent = os.path.dirname(os.path.abspath(root))
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(tempfile.mkdtemp(dir=parent, prefix='.synthetic-'), dataset)
        shutil.copytree(src, tmp)
        if os.path.exists(root):
            os.rmdir(root)
        os.replace(tmp, root)
        os.rmdir(os.path.dirname(tmp))
        return root

    check.generate_synthetic = copy_of_one_generation
    yield copy_of_one_generation  # for a test's own root: builtin_data_once(dataset, root)
    check.generate_synthetic = generate


def require_tool(name: str, why: str) -> str:
    """The tool's path; a skip locally when it is missing, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        msg = f'{name} is not installed ({why}); `make install` installs it as root'
        if os.environ.get('UMIX_REQUIRE_TOOLS') == '1':
            pytest.fail(msg)
        pytest.skip(msg)
    return path


TINY_TABLES = os.path.join(DATA_DIR, 'tables')


@pytest.fixture(scope='session')
def tiny_trained(tmp_path_factory):
    """One tiny training + test of tiny/umix-b0 on a dataset root outside the runs
    folder, shared by the tests that read it (in every worker: ``made_once``): (runs
    folder, data root). Nothing writes there: tests that change the store work on a
    copy in their own ``tmp_path`` (shutil.copytree)."""
    from experiments.cli import main
    from experiments.data.datasets import generate_synthetic

    def train(base: Path) -> None:
        data = str(base / 'ade')
        generate_synthetic('ade20k', data)
        os.remove(os.path.join(data, '.umixformer-synthetic.json'))  # a "real" dataset: identified by its files
        assert main(['tiny', '--tables', TINY_TABLES, '--profile', 'tiny', '--rows', 'umix-b0', '--stages',
                     'train,test', '--data-root', f'ade20k={data}', '--runs-dir', str(base / 'runs')]) == 0
    base = made_once(tmp_path_factory, 'trained', train)
    return base / 'runs', str(base / 'ade')
