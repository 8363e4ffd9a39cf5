"""`run-experiment calibrate`: measured speed per model and device, the hours `plan`
projects from it, and the --time (and requeue segments) the SLURM scripts ask for."""
import json
import os

import pytest
from conftest import DATA_DIR

from experiments.cli import main
from experiments.planning.options import PlanOptions
from experiments.planning.projection import signature
from experiments.planning.select import select
from experiments.store.calibration import Calibrations
from slurm.sizing import MARGIN, SEGMENT_OVERHEAD_S, size, time_text

TABLES = os.path.join(DATA_DIR, 'tables')


def _cli(command, runs, *extra):
    return main([command, 'tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs), *extra])


def _train_tasks(runs, **changes):
    opts = PlanOptions(table='tiny', tables=(TABLES, ), profile='tiny', runs_dir=str(runs), stages=('train', ),
                       **changes)
    return {t.row.id: t for t in select(opts).tasks}


def _fake(runs, task, device, s_iter, s_image=0.5):
    """A calibration as `calibrate` stores it, with chosen speeds (the sizing tests)."""
    Calibrations(str(runs)).put(signature(task), dict(device=device, seconds_per_iter=s_iter,
                                                      seconds_per_image=s_image, measured_at='2026-01-01T00:00'))


def test_calibrate_times_the_model_and_plan_projects_from_it(tmp_path, capsys):
    assert _cli('calibrate', tmp_path, '--rows', 'umix-b0', '--iters', '2', '--warmup', '0', '--images', '1') == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert '1 model(s) calibrated on cpu:' in out
    task = _train_tasks(tmp_path)['umix-b0']
    [entry] = Calibrations(str(tmp_path)).of(signature(task))
    assert entry['device'].startswith('cpu:') and entry['batch'] == 2 and entry['crop'] == [64, 64]
    assert 0 < entry['seconds_per_iter'] < 60 and 0 < entry['seconds_per_image'] < 60
    assert entry['row'] == 'tiny/umix-b0' and entry['compile'] == ''
    assert entry['peak_memory_of'] == 'process max RSS' and 0.1 < entry['train_peak_memory_gb'] < 24

    assert _cli('plan', tmp_path) == 0
    out = ' '.join(capsys.readouterr().out.split())
    # 60 iterations of the tiny profile, no validation in training: minutes = s/iter
    assert f'{entry["seconds_per_iter"] * 60 / 60:.2f} CPU min (calibrated)' in out
    assert '2 projected from calibrations' in out  # its train and test; the other row is not calibrated
    assert 'not calibrated for cpu: 2 task(s) of 1 row(s) (umix-b0-city)' in out
    assert 'run-experiment calibrate tiny' in out

    assert _cli('plan', tmp_path, '--calibration', 'a100') == 0
    assert 'not calibrated for a100: 4 task(s)' in ' '.join(capsys.readouterr().out.split())


def test_signature_holds_what_the_speed_depends_on(tmp_path):
    tasks = _train_tasks(tmp_path)
    again = _train_tasks(tmp_path, weights_dir=str(tmp_path / 'elsewhere'), seeds=(3, ))
    assert signature(tasks['umix-b0']) == signature(again['umix-b0'])  # weights and seed: same speed
    assert signature(tasks['umix-b0']) != signature(tasks['umix-b0-city'])
    other = _train_tasks(tmp_path)['umix-b0']
    other.cfg.train_dataloader.batch_size = 4
    assert signature(other) != signature(tasks['umix-b0'])
    other = _train_tasks(tmp_path)['umix-b0']
    other.cfg.train_compile = 'inductor'
    assert signature(other) != signature(tasks['umix-b0'])


def test_a_torn_calibration_file_reads_as_not_calibrated(tmp_path):
    task = _train_tasks(tmp_path)['umix-b0']
    cals = Calibrations(str(tmp_path))
    _fake(tmp_path, task, 'cpu:test', 1.0)
    with open(cals.path(signature(task), 'cpu:test'), 'w') as f:
        f.write('{"device": "cpu:test", "seconds_')
    assert cals.find(signature(task), 'cpu') is None


@pytest.mark.parametrize('projected, limit, time_s, segments, fits', [
    (600, 7200, 1500, 1, True),  # 600 x 1.2 + 600 = 1320 s: rounded up to 25 min
    (5 * 3600, 24 * 3600, 6 * 3600 + 600, 1, True),
    (30 * 3600, 24 * 3600, 24 * 3600, 2, True),  # 36 h of work in segments of 24 h - 12 min
    (100 * 3600, 12 * 3600, 12 * 3600, 11, True),
])
def test_time_and_segments_from_a_projection(projected, limit, time_s, segments, fits):
    sz = size(projected, limit, 120, resumable=True)
    assert (sz.time_s, sz.segments, sz.fits) == (time_s, segments, fits)
    # every segment ends at the warning; together they hold the projection with its margin
    assert sz.segments * (sz.time_s - 120 - SEGMENT_OVERHEAD_S) >= projected * MARGIN or sz.segments == 1


def test_a_stage_without_checkpoints_that_does_not_fit_is_said_so():
    sz = size(30 * 3600, 24 * 3600, 120, resumable=False)
    assert (sz.time_s, sz.segments, sz.fits) == (24 * 3600, 1, False)
    assert time_text(sz.time_s) == '1-00:00:00' and time_text(1500) == '00:25:00'


def _scripts(runs, *extra):
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import make_backend, select_tasks
    args = parse_args(['tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs), '--backend', 'slurm',
                       '--slurm-profile', os.path.join(DATA_DIR, 'slurm-ci.toml'), *extra])
    table, _, _, store, tasks = select_tasks(args)
    return {a['name']: a['script'] for a in make_backend(args).submission(table, tasks, store, {}).render()}


def test_slurm_time_is_sized_from_the_calibration(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')  # no controller to ask: the profile's time (20 min) is the limit
    tasks = _train_tasks(tmp_path)
    for task in tasks.values():
        _fake(tmp_path, task, 'cpu:test-cpu', 1.0, 0.25)  # 60 iterations: 60 s
    train = _scripts(tmp_path)['train']
    assert '#SBATCH --time=00:15:00' in train  # 60 x 1.2 + 600 s, in whole 5 minutes
    assert '# projected 0.02 h on cpu:test-cpu (calibrated' in train
    # slower: 60 x 15 s = 15 min of work does not fit 20 min with the margin and the start-up
    for task in tasks.values():
        _fake(tmp_path, task, 'cpu:test-cpu', 15.0)
    train = _scripts(tmp_path)['train']
    assert '#SBATCH --time=00:20:00' in train
    assert '2 segments (1 requeue(s) at the limit, resumed from the checkpoint)' in train
    # another device's calibration does not size this one
    assert '#SBATCH --time=00:20:00\n' in _scripts(tmp_path, '--calibration', 'h100')['train']
    assert '# projected' not in _scripts(tmp_path, '--calibration', 'h100')['train']


def test_calibrations_of_two_devices_are_kept_apart(tmp_path):
    task = _train_tasks(tmp_path)['umix-b0']
    _fake(tmp_path, task, 'cuda:NVIDIA A100-SXM4-80GB', 0.2)
    _fake(tmp_path, task, 'cuda:NVIDIA H100 80GB HBM3', 0.1)
    cals = Calibrations(str(tmp_path))
    assert cals.find(signature(task), 'a100')['seconds_per_iter'] == 0.2
    assert cals.find(signature(task), 'h100')['seconds_per_iter'] == 0.1
    assert cals.find(signature(task), 'cpu') is None
    files = os.listdir(os.path.dirname(cals.path(signature(task), 'x')))
    assert sorted(files) == ['cuda-nvidia-a100-sxm4-80gb.json', 'cuda-nvidia-h100-80gb-hbm3.json']
    assert json.load(open(cals.path(signature(task), 'cuda:NVIDIA H100 80GB HBM3')))['signature'] == signature(task)


def test_plan_warns_where_a_calibrated_batch_does_not_fit_the_gpus(tmp_path, capsys):
    """A training step that took 30 GiB on an 80 GB A100 (calibrate on a GPU node), planned
    for a partition of 24 GB GPUs: said before anything is queued, with what to change."""
    task = _train_tasks(tmp_path)['umix-b0']
    Calibrations(str(tmp_path)).put(signature(task), dict(
        device='cuda:NVIDIA A100-SXM4-80GB', seconds_per_iter=0.2, seconds_per_image=0.05,
        train_peak_memory_gb=30.0, peak_memory_of='cuda max_memory_reserved', measured_at='2026-01-01T00:00'))
    profile = tmp_path / 'cluster.toml'
    profile.write_text('partition = "gpu"\ngpus_per_task = 1\ngpu_memory_gb = 24\n')
    args = ('--calibration', 'a100', '--backend', 'slurm', '--slurm-profile', str(profile))
    assert _cli('plan', tmp_path, *args) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert ('warning: tiny/umix-b0: a training step of batch 2 per GPU took 30.0 GiB on cuda:NVIDIA '
            'A100-SXM4-80GB (calibrate); a GPU of the slurm backend has 24 GiB: it will run out of memory') in out
    assert 'umix-b0-city' not in out.split('warning:')[1]  # not calibrated: nothing said of it
    # GPUs with more memory (a per-stage value of the profile): nothing to say
    profile.write_text('partition = "gpu"\ngpus_per_task = 1\ngpu_memory_gb = 24\n[stages.train]\ngpu_memory_gb = 80\n')
    assert _cli('plan', tmp_path, *args) == 0
    assert 'run out of memory' not in capsys.readouterr().out
