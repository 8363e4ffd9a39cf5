import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(ROOT, 'experiments', 'configs')
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')

# tests run single-threaded CPU work; keep torch from oversubscribing 2 cores
os.environ.setdefault('OMP_NUM_THREADS', '2')


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


def require_tool(name: str, why: str) -> str:
    """The tool's path; a skip locally when it is missing, a failure in CI."""
    import shutil
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
    folder, shared by the tests that read it: (base folder, runs folder, data root).
    Tests that change the store work on a copy (shutil.copytree)."""
    from experiments.cli import main
    from experiments.data.datasets import generate_synthetic
    base = tmp_path_factory.mktemp('trained')
    data = str(base / 'ade')
    generate_synthetic('ade20k', data)
    os.remove(os.path.join(data, '.umixformer-synthetic.json'))  # a "real" dataset: identified by its files
    runs = base / 'runs'
    assert main(['tiny', '--tables', TINY_TABLES, '--profile', 'tiny', '--rows', 'umix-b0', '--stages', 'train,test',
                 '--data-root', f'ade20k={data}', '--runs-dir', str(runs)]) == 0
    return base, runs, data
