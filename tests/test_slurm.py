"""The SLURM backend against a real one-node SLURM cluster (slurm/start-slurm.sh,
Debian's slurmctld/slurmd/munge), started by this module and stopped after it."""
import json
import os
import shutil
import subprocess
import time

import pytest
from conftest import DATA_DIR, ROOT, require_tool

from experiments.cli import main
from experiments.planning.options import PlanOptions
from experiments.planning.projection import signature
from experiments.planning.select import select
from experiments.store import Store
from experiments.store.calibration import Calibrations

TABLES = os.path.join(DATA_DIR, 'tables')
PROFILE = os.path.join(DATA_DIR, 'slurm-ci.toml')
CI_DIR = os.environ.get('SLURM_CI_DIR', '/tmp/slurm-ci')


def _cluster_up() -> bool:
    conf = os.path.join(CI_DIR, 'slurm.conf')
    return os.path.exists(conf) and shutil.which('sinfo') is not None and subprocess.run(
        ['sinfo', '-h'], env=dict(os.environ, SLURM_CONF=conf), capture_output=True).returncode == 0


@pytest.fixture(scope='module')
def cluster():
    if os.geteuid() != 0:
        if os.environ.get('UMIX_REQUIRE_TOOLS') == '1':
            pytest.fail('the SLURM tests start daemons and need root')
        pytest.skip('the SLURM tests start a real cluster (slurmctld, slurmd, munged) and need root')
    require_tool('apt-get', 'installs the SLURM packages')
    started = not _cluster_up()
    if started:
        out = subprocess.run(['bash', os.path.join(ROOT, 'slurm', 'start-slurm.sh')], capture_output=True,
                             text=True, timeout=600, env=dict(os.environ, SLURM_CI_DIR=CI_DIR, SLURM_CI_CPUS='4'))
        assert out.returncode == 0, 'could not start SLURM: ' + out.stderr[-3000:]
    os.environ['SLURM_CONF'] = os.path.join(CI_DIR, 'slurm.conf')
    yield CI_DIR
    if started:
        subprocess.run(['bash', os.path.join(ROOT, 'slurm', 'stop-slurm.sh')], capture_output=True,
                       timeout=120, env=dict(os.environ, SLURM_CI_DIR=CI_DIR))


# the check profile (2 iterations, 2 evaluation images) where a test exercises submission,
# dependencies and process layout, not training: a job is mostly its imports then; the
# requeue tests train the tiny profile's 60 iterations, so that a signal lands mid-training
CHECK = 'check'


def _submit(runs, *extra, table='tiny', profile=CHECK):
    return main([table, '--tables', TABLES, '--profile', profile, '--runs-dir', str(runs), '--backend', 'slurm',
                 '--slurm-profile', PROFILE, *extra])


def _wait_idle(deadline_s=600):
    end = time.time() + deadline_s
    while time.time() < end:
        out = subprocess.run(['squeue', '-h'], capture_output=True, text=True)
        if out.returncode == 0 and not out.stdout.strip():  # a failed squeue says nothing
            return
        time.sleep(1)
    raise AssertionError('jobs still queued: ' + subprocess.run(['squeue'], capture_output=True, text=True).stdout)


def _release_requeued(job, deadline_s=180):
    """SLURM delays a requeued job's start (BeginTime, minutes); start it now
    instead, until it runs (or has run). Not at once: a start within a second of
    the requeue is killed by slurmd ("Job credential revoked", the previous
    instance's credential). The begin time is set to *now*, not ahead: an update
    to a past begin time schedules the job at once, one ahead waits for the next
    periodic pass (seen to leave it pending for minutes)."""
    end, pending_since, nudged = time.time() + deadline_s, None, 0.0
    while time.time() < end:
        out = subprocess.run(['squeue', '-h', '-j', job, '-o', '%T %r'], capture_output=True, text=True)
        if out.returncode == 0 and ('RUNNING' in out.stdout or (pending_since and not out.stdout.strip())):
            return  # running, or already run and gone
        if 'PENDING' in out.stdout:
            pending_since = pending_since or time.time()
            if time.time() - pending_since > 3 and time.time() - nudged > 10:
                if 'Held' in out.stdout:  # a requeued job may also be held
                    subprocess.run(['scontrol', 'release', job], capture_output=True)
                subprocess.run(['scontrol', 'update', f'jobid={job}', 'starttime=now'], capture_output=True)
                nudged = time.time()
        time.sleep(0.5)
    raise AssertionError(f'requeued job {job} did not start again within {deadline_s} s: ' + out.stdout)


def _submissions(runs):
    return [json.load(open(os.path.join(d, 'submission.json'))) for d, _, f in os.walk(runs / 'slurm')
            if 'submission.json' in f]


def _submission(runs):
    (sub, ) = _submissions(runs)
    return sub


def _tasks(runs, table='tiny'):
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import select_tasks
    return select_tasks(parse_args([table, '--tables', TABLES, '--profile', CHECK, '--runs-dir', str(runs)]))[4]


def _records(runs):
    return {(r.stage, r.dataset): r for r in Store(str(runs)).records()}


def test_array_submission_lands_every_record_in_dependency_order(cluster, tmp_path, capsys):
    assert _submit(tmp_path) == 0
    sub = _submission(tmp_path)
    arrays = {a['stage']: a for a in sub['arrays']}
    assert sub['status'] == 'submitted'
    # each test waits for its own training (same array index), not for the whole array
    assert arrays['test']['dependency'] == f'aftercorr:{arrays["train"]["job_id"]}'
    train_at = dict(zip(arrays['train']['keys'], arrays['train']['indices']))
    needs = {t.key: t.needs for t in _tasks(tmp_path)}
    assert [train_at[needs[k]] for k in arrays['test']['keys']] == arrays['test']['indices']
    assert len(arrays['train']['keys']) == 2  # one array task per row and seed
    script = open(arrays['train']['script']).read()
    assert '#SBATCH --array=0-1%4' in script and '#SBATCH --signal=B:USR2@60' in script
    _wait_idle()
    recs = _records(tmp_path)
    assert {k: r.status for k, r in recs.items()} == {
        ('train', 'ade20k'): 'done', ('train', 'cityscapes'): 'done', ('test', 'ade20k'): 'done',
        ('test', 'cityscapes'): 'done', ('complexity', 'ade20k'): 'done'}
    for ds in ('ade20k', 'cityscapes'):  # the dependent job ran after its parent
        assert recs['test', ds].started_at >= recs['train', ds].finished_at
        log = Store(str(tmp_path)).abs(recs['train', ds].log)  # stored relative to the runs folder
        assert log.endswith('.out') and os.path.exists(log)
    capsys.readouterr()
    assert main(['status', 'tiny', '--tables', TABLES, '--profile', CHECK, '--runs-dir', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f'{arrays["train"]["job_id"]}_0' in out and 'miou=' in out
    # everything is done: a second submission submits nothing
    assert _submit(tmp_path) == 0
    assert 'nothing to submit' in capsys.readouterr().out


def test_failed_training_cancels_only_its_own_test(cluster, tmp_path, capsys):
    assert _submit(tmp_path, table='tiny_mixed') == 0
    _wait_idle()
    recs = {r.rows[0].split('/')[-1] + ':' + r.stage: r for r in Store(str(tmp_path)).records()}
    bad = recs['broken:train']
    assert bad.status == 'failed' and "unknown kv_sources 'nonsense'" in bad.error
    assert "unknown kv_sources 'nonsense'" in open(Store(str(tmp_path)).abs(bad.log)).read()
    # the good row's test ran after its own training, whatever the other row did
    assert recs['umix-b0:train'].status == 'done' and recs['umix-b0:test'].status == 'done'
    assert 'broken:test' not in recs
    capsys.readouterr()
    main(['status', 'tiny_mixed', '--tables', TABLES, '--profile', CHECK, '--runs-dir', str(tmp_path)])
    out = capsys.readouterr().out
    assert 'FAILED' in out and bad.log.split('/')[-1] in out
    assert out.count('CANCELLED') == 1  # the broken row's test (--kill-on-invalid-dep=yes), and only it
    # a rerun submits the failed training and its own test, nothing else
    assert _submit(tmp_path, table='tiny_mixed') == 0
    arrays = {a['name']: a for a in sorted(_submissions(tmp_path), key=lambda s: s['id'])[-1]['arrays']}
    assert [len(a['keys']) for a in arrays.values()] == [1, 1] and set(arrays) == {'train', 'test'}
    subprocess.run(['scancel', *(a['job_id'] for a in arrays.values())], capture_output=True)
    _wait_idle()


def test_test_submitted_while_its_training_is_queued_waits_for_it(cluster, tmp_path):
    """train, then (while it is queued) test in a second command: the test depends
    on the queued training's own task and lands."""
    # submitted held, so that it is still queued when the test is submitted
    assert _submit(tmp_path, '--rows', 'umix-b0', '--stages', 'train', '--slurm', 'extra_sbatch=--hold') == 0
    train = _submission(tmp_path)['arrays'][0]
    assert _submit(tmp_path, '--rows', 'umix-b0', '--stages', 'test') == 0
    subprocess.run(['scontrol', 'release', train['job_id']], capture_output=True)
    (test_sub, ) = [s for s in _submissions(tmp_path) if s['arrays'][0]['stage'] == 'test']
    test = test_sub['arrays'][0]
    assert test['dependency'] == f'aftercorr:{train["job_id"]}' and test['indices'] == train['indices']
    _wait_idle()
    recs = _records(tmp_path)
    assert recs['test', 'ade20k'].status == 'done'
    assert recs['test', 'ade20k'].started_at >= recs['train', 'ade20k'].finished_at


def test_two_process_training_under_srun(cluster, tmp_path):
    """A gpus = 2 row on a node without GPUs: 2 CPU processes under srun (gloo, the
    port from the job id), the record written once, keyed and described as such."""
    assert _submit(tmp_path, '--stages', 'train', table='tiny_two') == 0
    script = open(_submission(tmp_path)['arrays'][0]['script']).read()
    assert 'srun --ntasks=2 ' in script
    _wait_idle()
    (rec, ) = Store(str(tmp_path)).records()
    log = open(Store(str(tmp_path)).abs(rec.log)).read()
    assert rec.status == 'done', rec.error + log[-3000:]
    assert rec.key.endswith('-w2') and rec.settings['world_size'] == 2 and rec.settings['global_batch'] == 4
    assert rec.metrics['distributed'] == {'backend': 'gloo', 'world_size': 2, 'sync_bn': False, 'nodes': 1}
    assert rec.metrics['iters'] == 2 and rec.metrics['final_loss'] < 10
    assert 'Distributed training: True' in log and log.count('exec-task: ' + rec.key) == 2  # both ranks ran it


def test_requeued_training_resumes_from_its_checkpoint(cluster, tmp_path):
    assert _submit(tmp_path, '--rows', 'umix-b0', '--stages', 'train', profile='tiny') == 0
    job = _submission(tmp_path)['arrays'][0]['job_id'] + '_0'
    end = time.time() + 300
    work = tmp_path / 'work' / 'train'
    while time.time() < end and not list(work.glob('*/last_checkpoint')):
        time.sleep(0.05)
    assert list(work.glob('*/last_checkpoint')), 'no checkpoint appeared'
    assert subprocess.run(['scontrol', 'requeue', job], capture_output=True).returncode == 0
    _release_requeued(job)
    _wait_idle()
    rec = _records(tmp_path)['train', 'ade20k']
    assert rec.status == 'done' and rec.metrics['iters'] == 60
    assert rec.resumed_from and os.path.basename(rec.resumed_from).startswith('iter_')
    log = open(Store(str(tmp_path)).abs(rec.log)).read()
    assert 'restart 1' in log
    # scontrol requeue sends TERM: the training checkpointed the iteration it was at
    assert 'TERM received' in log and 'preemption warning: saved' in log


def test_bad_submissions_fail_clearly_and_submit_nothing(cluster, tmp_path, capsys, monkeypatch):
    assert _submit(tmp_path, '--slurm', 'partition=nosuchpartition') == 2
    assert "unknown partition 'nosuchpartition'" in capsys.readouterr().out.replace('\n', '')
    assert _submit(tmp_path, '--slurm', 'mem=900000G') == 2  # more than the node has
    assert 'sbatch rejects' in capsys.readouterr().out.replace('\n', '')
    sub = _submission(tmp_path)
    assert sub['status'] == 'rejected' and sub['error'] and all(a['job_id'] is None for a in sub['arrays'])
    assert not subprocess.run(['squeue', '-h'], capture_output=True, text=True).stdout.strip()
    monkeypatch.setenv('PATH', '/nonexistent')
    assert _submit(tmp_path) == 2
    assert '`sbatch` is not on PATH' in capsys.readouterr().out.replace('\n', '')


def test_time_limit_warning_checkpoints_and_requeues(cluster, tmp_path, monkeypatch):
    """USR2 (what --signal=B:USR2@T delivers before the time limit): the task
    saves a checkpoint at once, requeues itself and resumes from it. The training
    is held after iteration 10 until the signal arrives (no race with a fast run)."""
    monkeypatch.setenv('UMIX_TEST_HOLD_AT_ITER', '10')  # sbatch passes the environment on
    assert _submit(tmp_path, '--rows', 'umix-b0', '--stages', 'train', profile='tiny') == 0
    job = _submission(tmp_path)['arrays'][0]['job_id'] + '_0'
    work = tmp_path / 'work' / 'train'
    end = time.time() + 300
    while time.time() < end and not list(work.glob('*/iter_10.pth')):
        time.sleep(0.05)
    assert subprocess.run(['scancel', '--batch', '--signal=USR2', job], capture_output=True).returncode == 0
    end, gone = time.time() + 120, 0  # the task checkpoints, stops and requeues itself
    while time.time() < end:
        out = subprocess.run(['squeue', '-h', '-j', job, '-o', '%T'], capture_output=True, text=True)
        if 'PENDING' in out.stdout:
            break
        gone = gone + 1 if out.returncode == 0 and not out.stdout.strip() else 0
        assert gone < 5, f'job {job} finished instead of being requeued'  # told apart from "pending"
        time.sleep(0.2)
    _release_requeued(job)
    _wait_idle()
    rec = _records(tmp_path)['train', 'ade20k']
    log = open(Store(str(tmp_path)).abs(rec.log)).read()
    assert 'USR2 received' in log and 'preemption warning: saved' in log
    assert rec.status == 'done' and rec.metrics['iters'] == 60 and rec.resumed_from


def test_cityscapes_c_generation_array_one_task_per_corruption(cluster, tmp_path):
    from experiments.data.cityscapes_c import root_for
    from experiments.data.datasets import check_root, generate_synthetic
    src = generate_synthetic('cityscapes', str(tmp_path / 'cityscapes'), num_train=2, num_val=3)
    out = tmp_path / 'cityscapes-c'
    assert main(['cityscapes-c', '--data-root', f'cityscapes={src}', '--out', str(out), '--backend', 'slurm',
                 '--slurm-profile', PROFILE, '--corruptions', 'fog,contrast', '--runs-dir', str(tmp_path)]) == 0
    _wait_idle()
    logs = sorted((tmp_path / 'slurm').glob('cityscapes-c-*/logs/*.out'))
    assert len(logs) == 2  # one array task per corruption
    for c in ('fog', 'contrast'):
        for s in range(1, 6):
            assert check_root('cityscapes', root_for(str(out), c, s), splits=('val', )) == {'val': 3}


def test_time_above_partition_maxtime_is_refused_before_queueing(cluster, tmp_path, capsys):
    rc = _submit(tmp_path, '--slurm', 'partition=short', '--slurm', 'time=01:00:00')
    assert rc == 2
    assert "time 01:00:00 is longer than partition short's MaxTime 00:30:00" in ' '.join(capsys.readouterr().out.split())
    assert not (tmp_path / 'slurm').exists()  # nothing written, nothing queued


def test_calibrated_time_is_what_slurm_is_asked(cluster, tmp_path, capsys):
    """A calibrated training asks SLURM for its projected time, not the profile's 20 minutes."""
    opts = PlanOptions(table='tiny', tables=(TABLES, ), profile='tiny', runs_dir=str(tmp_path), stages=('train', ))
    for task in select(opts).tasks:  # 60 iterations at 1 s: 60 x 1.2 + 600 s of start-up -> 15 min
        Calibrations(str(tmp_path)).put(signature(task), dict(device='cpu:ci', seconds_per_iter=1.0,
                                                              seconds_per_image=0.1, measured_at='2026-01-01'))
    assert _submit(tmp_path, '--stages', 'train', '--calibration', 'cpu', profile='tiny') == 0
    assert 'time of train: projected 0.02 h on cpu:ci' in ' '.join(capsys.readouterr().out.split())
    job = _submission(tmp_path)['arrays'][0]['job_id']
    shown = subprocess.run(['scontrol', 'show', 'job', job], capture_output=True, text=True).stdout
    subprocess.run(['scancel', job], capture_output=True)
    assert 'TimeLimit=00:15:00' in shown
    _wait_idle()


def test_unreachable_controller_is_named(cluster, tmp_path, capsys, monkeypatch):
    # the cluster's own configuration, but a controller port nobody listens on; the client
    # gives up after MessageTimeout (default 10 s per call, 2 s here: the message is the same)
    conf = open(os.path.join(cluster, 'slurm.conf')).read()
    bad = tmp_path / 'slurm.conf'
    bad.write_text('\n'.join('SlurmctldPort=9' if l.startswith('SlurmctldPort=') else l for l in conf.splitlines()
                             if not l.startswith('MessageTimeout=')) + '\nMessageTimeout=2\n')
    monkeypatch.setenv('SLURM_CONF', str(bad))
    assert _submit(tmp_path) == 2
    assert 'cannot reach the SLURM controller' in ' '.join(capsys.readouterr().out.split())
    assert not (tmp_path / 'data').exists()  # said before any dataset was prepared


def test_status_of_a_job_slurm_has_forgotten(cluster, tmp_path, capsys):
    """After MinJobAge SLURM no longer knows a job (and this cluster keeps no
    accounting): status says so and what the store knows, not 'missing'."""
    args = ['tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(tmp_path), '--rows', 'umix-b0',
            '--stages', 'train']
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import select_tasks
    (task, ) = select_tasks(parse_args(args))[4]
    sub = tmp_path / 'slurm' / 'tiny-old'
    sub.mkdir(parents=True)
    (sub / 'submission.json').write_text(json.dumps(dict(
        id='old', table='tiny', dir=str(sub), status='submitted', error='', arrays=[dict(
            name='train', stage='train', job_id='987654', dependency=None, script='', keys=[task.key], indices=[3],
            log=str(sub / 'logs' / 'train-%A_%a.out'))])))
    capsys.readouterr()
    assert main(['status'] + args) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert '987654_3' in out and 'which SLURM no longer knows' in out


TWO_NODE_DIR = CI_DIR + '-2nodes'


@pytest.fixture(scope='module')
def two_nodes(cluster):
    """A second cluster of two nodes on this machine (slurm/start-slurm.sh with
    SLURM_CI_NODES=2: two slurmd at 127.0.0.1 and 127.0.0.2, their own ports), beside
    the one-node cluster of the other tests; stopped after this module."""
    env = dict(os.environ, SLURM_CI_DIR=TWO_NODE_DIR, SLURM_CI_NODES='2', SLURM_CI_CTLD_PORT='6827',
               SLURM_CI_SLURMD_PORT='6828', SLURM_CI_CPUS='2', SLURM_CI_MEM_MB='16000')
    out = subprocess.run(['bash', os.path.join(ROOT, 'slurm', 'start-slurm.sh')], capture_output=True, text=True,
                         timeout=600, env=env)
    assert out.returncode == 0, 'could not start the two-node cluster: ' + out.stderr[-3000:]
    yield os.path.join(TWO_NODE_DIR, 'slurm.conf')
    subprocess.run(['bash', os.path.join(ROOT, 'slurm', 'stop-slurm.sh')], capture_output=True, timeout=120,
                   env=dict(os.environ, SLURM_CI_DIR=TWO_NODE_DIR))


def test_two_node_training_lands_once(two_nodes, tmp_path, monkeypatch):
    """A nodes = 2 row: its rendered script passes `sbatch --test-only` on a real
    two-node cluster, and trains as 2 nodes x 1 process (gloo) into one record."""
    monkeypatch.setenv('SLURM_CONF', two_nodes)
    nodes = subprocess.run(['sinfo', '-h', '-o', '%D %t'], capture_output=True, text=True).stdout.split()
    assert nodes[0] == '2', nodes
    args = ['tiny_nodes', '--tables', TABLES, '--profile', CHECK, '--runs-dir', str(tmp_path), '--backend', 'slurm',
            '--slurm-profile', PROFILE]
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import make_backend, select_tasks
    parsed = parse_args(args)
    table, profile, _, store, tasks = select_tasks(parsed)
    (arr, ) = make_backend(parsed).submission(table, tasks, store, {}).render()
    script = tmp_path / 'two-nodes.sbatch'
    script.write_text(arr['script'])
    test_only = subprocess.run(['sbatch', '--test-only', str(script)], capture_output=True, text=True, timeout=60)
    assert test_only.returncode == 0 and 'node[1-2]' in test_only.stderr, test_only.stderr
    assert main(args) == 0
    _wait_idle()
    (rec, ) = Store(str(tmp_path)).records()
    logs = ''.join(open(os.path.join(d, f)).read() for d, _, fs in os.walk(tmp_path / 'slurm') for f in fs
                   if f.endswith('.out'))
    assert rec.status == 'done', logs[-3000:]
    # two processes, one on each node
    assert rec.metrics['distributed'] == {'backend': 'gloo', 'world_size': 2, 'sync_bn': False, 'nodes': 2}
    assert rec.settings['world_size'] == 2 and rec.key.endswith('-w2')
