"""`--train-compile`: training under torch.compile (backbone, heads and their loss), a
labelled option with records of its own, reproduced by the command its records state."""
import os

import pytest
from conftest import DATA_DIR

from analysis.curves import read_scalars
from experiments.cli import main
from experiments.core.errors import UsageError
from experiments.planning.commands import reproduce_command
from experiments.planning.options import PlanOptions
from experiments.planning.select import select
from experiments.store import Store

TABLES = os.path.join(DATA_DIR, 'tables')


def _tasks(runs, **changes):
    opts = PlanOptions(table='tiny', tables=(TABLES, ), profile='tiny', runs_dir=str(runs), rows=('umix-b0', ),
                       stages=('train', 'test'), **changes)
    return {t.stage: t for t in select(opts).tasks}


def test_compiled_training_has_its_own_keys_and_command(tmp_path):
    plain, compiled = _tasks(tmp_path), _tasks(tmp_path, settings={'train_compile': 'inductor'})
    assert 'train_compile' not in plain['train'].cfg and not plain['train'].options
    assert compiled['train'].cfg.train_compile == 'inductor'
    assert compiled['train'].key.endswith('-s0-compile') and compiled['test'].key.endswith('-s0-compile')
    assert compiled['test'].needs == compiled['train'].key  # the test reads the compiled training
    assert {t.key for t in plain.values()}.isdisjoint(t.key for t in compiled.values())
    assert compiled['train'].options == {'train_compile': 'inductor'}  # in the record's settings
    assert '--train-compile inductor' in reproduce_command(compiled['test'], {})
    debug = _tasks(tmp_path, settings={'train_compile': 'aot_eager'})['train']
    assert debug.key.endswith('-compile.aot_eager') and debug.cfg.train_compile == 'aot_eager'
    with pytest.raises(UsageError, match="--train-compile: 'tvm' is not one of inductor, aot_eager, eager"):
        _tasks(tmp_path, settings={'train_compile': 'tvm'})


def test_a_compiled_training_runs_and_lands_its_record(tmp_path, tiny_trained):
    """The training stage compiles the model's computation (here with the aot_eager
    backend: the forward and backward graphs traced by dynamo and AOTAutograd, run by
    PyTorch's kernels, which keeps the test to seconds). The same function: the mean loss of
    the first 10 iterations equals the uncompiled training's (conftest's ``tiny_trained``:
    the same row, data and seed) to float rounding; after that the tiny training amplifies
    rounding (two compiled runs of this test ended 5 % apart, at 1.45 and 1.59), so the end
    is checked for learning, not for a band."""
    plain_runs, data = tiny_trained
    assert main(['tiny', '--tables', TABLES, '--profile', 'tiny', '--rows', 'umix-b0', '--stages', 'train',
                 '--data-root', f'ade20k={data}', '--runs-dir', str(tmp_path), '--train-compile', 'aot_eager']) == 0
    [compiled] = Store(str(tmp_path)).records()
    [plain] = [r for r in Store(str(plain_runs)).records() if r.stage == 'train']
    assert compiled.key.endswith('-compile.aot_eager') and not plain.key.endswith('-compile.aot_eager')
    assert compiled.status == plain.status == 'done'
    assert compiled.settings['train_compile'] == 'aot_eager' and 'train_compile' not in plain.settings
    assert '--train-compile aot_eager' in compiled.command
    first, ref = (read_scalars(str(runs / r.artifacts['work_dir']))['loss'].iloc[0]
                  for runs, r in ((tmp_path, compiled), (plain_runs, plain)))
    assert abs(first - ref) <= 1e-3 * ref, (first, ref)  # measured: 4e-5
    assert compiled.metrics['final_loss'] < 0.5 * first
