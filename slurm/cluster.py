"""What the scheduler is asked: its partitions and limits, the jobs this store submitted
and their states (squeue, then sacct / scontrol for finished ones)."""
import json
import os
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence, Tuple

from experiments.store import Store
from slurm.profile import SlurmError, time_seconds


def run_tool(cmd: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _partitions() -> Dict[str, dict]:
    """{partition: its scontrol fields}; a controller that cannot be reached is
    said to be that, not an unknown partition."""
    out = run_tool(['scontrol', 'show', 'partition', '-o'])
    if out.returncode != 0:
        raise SlurmError(f'cannot reach the SLURM controller ({out.stderr.strip() or "scontrol failed"}): check '
                         '`scontrol ping` and `sinfo`, and that SLURM_CONF names this cluster\'s slurm.conf')
    parts = {}
    for line in out.stdout.splitlines():
        fields = dict(tok.split('=', 1) for tok in line.split() if '=' in tok)
        if 'PartitionName' in fields:
            parts[fields['PartitionName']] = fields
    return parts


def _default(parts: Dict[str, dict]) -> Optional[str]:
    return next((n for n, f in parts.items() if f.get('Default') == 'YES'), None)


def _max_seconds(fields: dict) -> Optional[int]:
    """A partition's MaxTime in seconds; None where it is unlimited."""
    most = fields.get('MaxTime', 'UNLIMITED')
    return None if most in ('UNLIMITED', 'INFINITE') else time_seconds(most)


def check_slurm(limits: Sequence[Tuple[str, str, str]]) -> None:
    """Before anything is queued: the tools are there, the controller answers,
    every (what, partition, time) names a partition that exists and fits its
    MaxTime (a longer job would pend forever: PartitionTimeLimit)."""
    for tool in ('sbatch', 'squeue', 'scontrol'):
        if shutil.which(tool) is None:
            raise SlurmError(f'`{tool}` is not on PATH: this machine is no SLURM submit host '
                             '(use --backend local, or start the test cluster: slurm/start-slurm.sh)')
    parts = _partitions()
    for what, part, limit in limits:
        name = part or _default(parts)
        if name not in parts:
            raise SlurmError(f'unknown partition {part!r}' if part else 'the cluster has no default partition: set '
                             '`partition` in the cluster profile' + f'; the cluster has: {", ".join(parts) or "(none)"}')
        most, most_s = parts[name].get('MaxTime', 'UNLIMITED'), _max_seconds(parts[name])
        if most_s is not None and time_seconds(limit) > most_s:
            raise SlurmError(f'{what}: time {limit} is longer than partition {name}\'s MaxTime {most}: the job '
                             'would pend forever (PartitionTimeLimit); set a shorter `time` in the cluster profile '
                             '(or --slurm time=...)')


def partition_limit(partition: str) -> Optional[int]:
    """The MaxTime of a partition (the default one for ''), in seconds; None where it is
    unlimited or the controller cannot be asked (a plan made off the cluster)."""
    if shutil.which('scontrol') is None:
        return None
    try:
        parts = _partitions()
    except (SlurmError, OSError, subprocess.SubprocessError):
        return None
    return _max_seconds(parts.get(partition or _default(parts), {}))


def max_batch_requeue() -> Optional[int]:
    """slurm.conf's MaxBatchRequeue (default 5): a batch job requeued more often is held."""
    if shutil.which('scontrol') is None:
        return None
    try:
        out = run_tool(['scontrol', 'show', 'config'])
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.stdout.splitlines():
        name, _, value = line.partition('=')
        if name.strip() == 'MaxBatchRequeue' and value.strip().isdigit():
            return int(value.strip())
    return None


def submissions(store: Store) -> List[dict]:
    base = os.path.join(store.root, 'slurm')
    out = []
    if os.path.isdir(base):
        for d in sorted(os.listdir(base)):
            path = os.path.join(base, d, 'submission.json')
            if os.path.exists(path):
                with open(path) as f:
                    out.append(json.load(f))
    return out


def latest_jobs(store: Store) -> Dict[str, dict]:
    """key -> {job (array task id), log} of the latest submission of each key."""
    jobs = {}
    for sub in submissions(store):
        if sub['status'] != 'submitted':
            continue
        for arr in sub['arrays']:
            for i, key in zip(arr.get('indices') or range(len(arr['keys'])), arr['keys']):
                job = f'{arr["job_id"]}_{i}'
                jobs[key] = dict(job=job, log=arr['log'].replace('%A', arr['job_id']).replace('%a', str(i)))
    return jobs


def job_states(job_ids: Sequence[str]) -> Dict[str, str]:
    """Array task id -> SLURM state, from squeue, then scontrol (recent jobs), then
    sacct where the cluster keeps accounting; absent where SLURM does not know
    (or is not reachable)."""
    states: Dict[str, str] = {}
    if not job_ids or shutil.which('squeue') is None:
        return states
    arrays = sorted({j.split('_')[0] for j in job_ids})
    out = run_tool(['squeue', '-h', '-r', '-j', ','.join(arrays), '-o', '%i %T'])
    for line in out.stdout.splitlines():
        jid, _, state = line.partition(' ')
        states[jid] = state
    for j in job_ids:
        if j not in states:
            show = run_tool(['scontrol', 'show', 'job', j])
            for tok in show.stdout.split():
                if tok.startswith('JobState='):
                    states[j] = tok.split('=', 1)[1]
                    break
    gone = [j for j in job_ids if j not in states]
    if gone and shutil.which('sacct'):  # forgotten by the controller (MinJobAge): accounting remembers
        out = run_tool(['sacct', '-n', '-X', '-P', '-o', 'JobID,State', '-j', ','.join(sorted({j.split('_')[0]
                                                                                             for j in gone}))])
        if out.returncode == 0 and 'accounting storage is disabled' not in out.stdout + out.stderr:
            for line in out.stdout.splitlines():
                jid, _, state = line.partition('|')
                if jid in gone and state:
                    states[jid] = state.split()[0]  # 'CANCELLED by 0' -> 'CANCELLED'
    return states


def queued_jobs(store: Store) -> Dict[str, str]:
    """Key -> array task (``J_i``) of every key whose latest submitted task is still
    pending or running (what a new submission must neither repeat nor ignore)."""
    jobs = {k: j for k, j in latest_jobs(store).items() if not store.is_done(k)}
    states = job_states([j['job'] for j in jobs.values()])
    return {k: j['job'] for k, j in jobs.items()
            if states.get(j['job']) in ('PENDING', 'RUNNING', 'CONFIGURING', 'REQUEUED', 'SUSPENDED')}


