"""run-experiment end to end on the built-in data (tiny profile): records,
re-runs, shared training, SIGKILL and resume."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import DATA_DIR, ROOT
from experiments.cli import main
from experiments.store import Record, RecordExistsError, Store

TABLES = os.path.join(DATA_DIR, 'tables')
CLI = [sys.executable, '-m', 'experiments.cli']


def _records(runs):
    return {r.key: r for r in Store(str(runs)).records()}


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp('runs')
    rc = main(['tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs)])
    return runs, rc


def test_runs_every_stage_and_records_provenance(tiny_run, capsys):
    runs, rc = tiny_run
    assert rc == 0
    recs = _records(runs)
    stages = sorted(r.stage for r in recs.values())
    assert stages == ['complexity', 'test', 'test', 'train', 'train']
    for r in recs.values():
        assert r.status == 'done'
        assert r.config_hash and r.git_revision and r.device and r.wall_time_s > 0
        assert {'torch', 'mmcv', 'mmengine', 'mmsegmentation'} <= set(r.packages)
        # the command recomputes it from any folder: its table folder and store named
        assert r.command.startswith(f'run-experiment tiny --tables {TABLES} --rows ')
        assert r.command.endswith(f'--runs-dir {runs}')
    test = next(r for r in recs.values() if r.stage == 'test' and r.dataset == 'ade20k')
    assert 0.0 <= test.metrics['miou'] <= 100.0
    for r in recs.values():  # what the training computed with, said by its record
        if r.stage == 'train':
            assert r.metrics['computation'] == dict(fused_head_attention=True, fused_encoder_attention=True,
                                                    fast_fuse=True, fused_loss=True, grouped_optimizer_step=True)
    cx = next(r for r in recs.values() if r.stage == 'complexity')
    assert abs(cx.metrics['gflops'] - 6.16) < 0.01  # at 512x512 whatever the profile
    assert abs(cx.metrics['params_published_layout_m'] - 6.14) < 0.01


def test_rerun_skips_done_and_shares_training(tiny_run):
    runs, _ = tiny_run
    before = {k: os.path.getmtime(Store(str(runs)).path(k)) for k in _records(runs)}
    assert main(['tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs)]) == 0
    # tiny_again needs the same training (same config, profile, seed): no new train record
    assert main(['tiny_again', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs)]) == 0
    after = _records(runs)
    assert sum(r.stage == 'train' for r in after.values()) == 2
    assert all(os.path.getmtime(Store(str(runs)).path(k)) == t for k, t in before.items())
    shared = next(r for r in after.values() if r.stage == 'train' and r.dataset == 'ade20k')
    assert shared.rows == ['tiny/umix-b0']  # written once, by the first table that needed it


def test_finished_record_is_never_overwritten(tiny_run):
    runs, _ = tiny_run
    store = Store(str(runs))
    rec = next(iter(_records(runs).values()))
    with pytest.raises(RecordExistsError, match='never overwritten'):
        store.put(Record(**{**rec.__dict__, 'metrics': {'miou': 99.0}}))
    assert store.get(rec.key).metrics == rec.metrics


def test_failed_task_is_recorded_and_rerun(tmp_path, monkeypatch):
    import experiments.engine.compute.stages as stages
    calls = []

    def boom(task, store):
        calls.append(task.key)
        raise RuntimeError('simulated failure')

    monkeypatch.setattr(stages, 'run_complexity', boom)
    args = ['tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(tmp_path),
            '--rows', 'umix-b0', '--stages', 'complexity']
    assert main(args) == 1
    rec = next(iter(_records(tmp_path).values()))
    assert rec.status == 'failed' and 'simulated failure' in rec.error
    monkeypatch.undo()
    assert main(args) == 0
    assert next(iter(_records(tmp_path).values())).status == 'done'


def test_sigkill_mid_training_then_resume(tmp_path, capsys):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    cmd = CLI + ['tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(tmp_path),
                 '--rows', 'umix-b0', '--stages', 'train']
    log = open(tmp_path / 'first.log', 'w')
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 240
    last = None
    while time.time() < deadline and proc.poll() is None:
        found = [os.path.join(d, 'last_checkpoint') for d, _, f in os.walk(tmp_path / 'work')
                 if 'last_checkpoint' in f]
        if found:
            last = open(found[0]).read().strip()
            break
        time.sleep(0.05)
    assert proc.poll() is None, 'training ended before it could be killed: ' + open(tmp_path / 'first.log').read()[-2000:]
    assert last is not None, 'no checkpoint within the deadline'
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (rec, ) = _records(tmp_path).values()
    assert rec.status == 'running'  # what a killed run leaves behind
    capsys.readouterr()
    assert main(['status'] + cmd[len(CLI):]) == 0
    assert 'stale (no heartbeat since' in ' '.join(capsys.readouterr().out.split())
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (rec, ) = _records(tmp_path).values()
    assert rec.status == 'done'
    assert rec.resumed_from is not None and os.path.basename(rec.resumed_from).startswith('iter_')
    assert rec.metrics['iters'] == 60
    resumed_iter = int(os.path.basename(rec.resumed_from)[5:-4])
    assert 10 <= resumed_iter < 60


def test_robustness_stage_on_cityscapes_c(tiny_run):
    runs, _ = tiny_run
    trains = sum(r.stage == 'train' for r in _records(runs).values())
    assert main(['tiny_robust', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs)]) == 0
    recs = _records(runs)
    assert sum(r.stage == 'train' for r in recs.values()) == trains  # the tiny table's training is reused
    (rob, ) = [r for r in recs.values() if r.stage == 'robustness']
    m = rob.metrics
    assert len(m['per_severity']) == 80 and len(m['per_corruption']) == 16
    assert set(m['per_group']) == {'blur', 'noise', 'digital', 'weather'}
    assert 0 <= m['miou_corrupted'] <= 100 and 0 <= m['miou_clean'] <= 100
    assert m['images'] == 2  # the tiny profile corrupts the first two validation images
    # the pictures: one image clean and under each corruption at severity 3, with the kept
    # prediction drawn over the image re-corrupted by the on-the-fly transform
    import base64
    import re
    import cv2
    import numpy as np
    from reports.qualitative import draw, panels
    assert main(['report', 'tiny_robust', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs),
                 '--format', 'html']) == 0
    html = open(runs / 'reports' / 'tiny' / 'tiny_robust.html').read()
    png = base64.b64decode(re.search(r'alt="robustness-pictures" src="data:image/png;base64,([^"]+)"', html)[1])
    meta = panels(png)
    preds = [p for p in meta['panels'] if p['prediction']]
    assert len(preds) == 17 and {p['row'] for p in preds} >= {'clean', 'frost 3', 'gaussian_noise 3'}
    grid = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    from experiments.engine.plugins.corruption import CityscapesCCorruption
    p = next(p for p in preds if p['row'] == 'frost 3')
    path = next(os.path.join(d, f) for d, _, fs in os.walk(runs / 'data' / 'cityscapes' / 'leftImg8bit' / 'val')
                for f in fs if f == os.path.basename(p['image']))
    image = CityscapesCCorruption('frost', 3).transform(dict(img=cv2.imread(path), img_path=path))['img'][..., ::-1]
    expect = draw(np.ascontiguousarray(image), cv2.imread(p['prediction'], cv2.IMREAD_UNCHANGED), 'cityscapes')
    assert np.array_equal(grid[p['y']:p['y'] + p['h'], p['x']:p['x'] + p['w']], expect[::p['stride'], ::p['stride']])


def test_robustness_on_the_fly_gives_the_files_numbers(tiny_run):
    """--cityscapes-c-source on-the-fly (no disk) measures exactly what the
    generated files give: the same mIoU at every corruption and severity."""
    runs, _ = tiny_run
    common = ['tiny_robust', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs)]
    assert main(common) == 0  # files (reuses the record of the test above, or computes it)
    (files, ) = [r for r in _records(runs).values() if r.stage == 'robustness']
    row = files.rows[0].split('/')[-1]
    assert main(['invalidate', *common, '--rows', row, '--stages', 'robustness']) == 0
    assert main(common + ['--cityscapes-c-source', 'on-the-fly']) == 0
    (fly, ) = [r for r in _records(runs).values() if r.stage == 'robustness']
    assert fly.metrics['source'] == 'on-the-fly' and files.metrics['source'] == 'files'
    assert fly.metrics['per_severity'] == files.metrics['per_severity']
    assert fly.metrics['miou_clean'] == files.metrics['miou_clean']


def test_runners_of_one_key_in_one_second_keep_their_own_folders(tmp_path, monkeypatch):
    """The same task run twice within one second of one process (the key in a copied store, a
    retraining): the second Runner logs and writes its config into its own folder, not into the
    first one's (mmengine hands out its visualizer and logger by name; the first folder may be gone)."""
    import logging
    import shutil

    from experiments.cli.parser import parse_args
    from experiments.cli.selection import select_tasks
    from experiments.engine.compute.stages import task_runner
    one_second = time.localtime()
    real = time.strftime
    monkeypatch.setattr(time, 'strftime', lambda fmt, t=None: real(fmt, one_second))
    (task, ) = [t for t in select_tasks(parse_args(['plan', 'tiny', '--tables', TABLES, '--profile', 'tiny', '--rows',
                                                     'umix-b0', '--stages', 'train', '--runs-dir', str(tmp_path)]))[4]]
    first = task_runner(task, str(tmp_path / 'first'))
    shutil.rmtree(tmp_path / 'first')
    second = task_runner(task, str(tmp_path / 'second'))  # mmengine's add_config wrote into 'first' here before
    assert second.visualizer is not first.visualizer and second.logger is not first.logger
    assert second.visualizer._vis_backends['LocalVisBackend']._save_dir.startswith(str(tmp_path / 'second'))
    files = [h.baseFilename for h in second.logger.handlers if isinstance(h, logging.FileHandler)]
    assert files and all(f.startswith(str(tmp_path / 'second')) for f in files)
