"""The check profile's checkpoints: weights only, removed once the run's tests read them
(what the run leaves on disk said at its end), and trained again when a later run reads
one."""
import os

import torch

from conftest import DATA_DIR
from experiments.cli import main
from experiments.store import Store

TABLES = os.path.join(DATA_DIR, 'tables')


def _run(runs, stages, capsys, *more):
    rc = main(['tiny', '--tables', TABLES, '--rows', 'umix-b0', '--profile', 'check', '--stages', stages,
               '--runs-dir', str(runs), *more])
    return rc, capsys.readouterr().out


def _train(runs):
    return next(r for r in Store(str(runs)).records() if r.stage == 'train')


def test_check_checkpoints_are_weights_only_and_removed_once_read(tmp_path, capsys):
    runs = tmp_path / 'runs'
    rc, out = _run(runs, 'train', capsys)
    assert rc == 0
    train = _train(runs)
    ckpt = Store(str(runs)).abs(train.artifacts['checkpoint'])
    saved = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert 'state_dict' in saved and 'optimizer' not in saved and 'param_schedulers' not in saved
    assert 'removed' not in out  # nothing of this run reads it: kept

    rc, out = _run(runs, 'train,test', capsys)
    assert rc == 0, out
    assert not os.path.exists(ckpt)
    assert 'removed 1 checkpoint(s) once read (' in out and "this run's folders hold " in out
    test_key = next(r.key for r in Store(str(runs)).records() if r.stage == 'test')

    # the test again, its training's checkpoint gone: trained again first (the old record kept
    # in the history), then tested, and removed again
    assert main(['invalidate', 'tiny', '--tables', TABLES, '--rows', 'umix-b0', '--profile', 'check',
                 '--stages', 'test', '--runs-dir', str(runs)]) == 0
    capsys.readouterr()
    rc, out = _run(runs, 'test', capsys)
    assert rc == 0, out
    assert 'again, as the check profile removed its checkpoint' in out
    assert Store(str(runs)).get(test_key).status == 'done'
    assert _train(runs).started_at > train.started_at
    assert os.listdir(runs / 'records' / 'history')
    assert not os.path.exists(Store(str(runs)).abs(_train(runs).artifacts['checkpoint']))

    # predict has no weights to read: said in one line
    assert main(['predict', 'tiny', '--tables', TABLES, '--rows', 'umix-b0', '--profile', 'check',
                 '--runs-dir', str(runs), str(next((tmp_path / 'runs').rglob('*.jpg')))]) == 2
    assert 'profile removes its checkpoints once its run has read them' in capsys.readouterr().out
