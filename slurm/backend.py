"""The SLURM backend: one ``sbatch --array`` job per stage (one task per missing
row and seed), each task after its own prerequisite (``--dependency=aftercorr``
with matching indices, ``--kill-on-invalid-dep=yes``); scripts rendered from a template into the run
folder before submission; all-or-nothing submission."""
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import jinja2

from experiments.backends.base import Backend, BackendError
from experiments.core.files import atomic_write
from experiments.core.signals import signal_number
from experiments.data.datasets import check_root
from experiments.planning.tasks import Task
from experiments.registry.schema import STAGE_NEEDS, STAGES, read_toml
from experiments.store import Store

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PROFILE_KEYS = {'partition', 'account', 'qos', 'gpus_per_task', 'cpus_per_task', 'mem', 'time', 'array_throttle',
                'signal', 'signal_seconds', 'extra_sbatch', 'setup', 'stages', 'exclusive'}
DEFAULTS = dict(partition='', account='', qos='', gpus_per_task=0, cpus_per_task=2, mem='', time='01:00:00',
                array_throttle=0, signal='USR2', signal_seconds=120, extra_sbatch=[], setup='', stages={})


class SlurmError(BackendError):
    """sbatch missing, a bad cluster profile, a rejected submission."""


def time_seconds(value: str) -> int:
    """SLURM's time formats (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds."""
    days, _, rest = value.partition('-') if '-' in value else ('0', '', value)
    parts = [int(p) for p in rest.split(':')]  # ValueError on anything else
    if '-' in value:
        h, m, sec = (parts + [0, 0])[:3]
    else:
        h, m, sec = {1: (0, parts[0], 0), 2: (0, *parts), 3: tuple(parts)}[len(parts)]
    return int(days) * 86400 + h * 3600 + m * 60 + sec


def _check_value(where: str, key: str, value) -> None:
    kind = bool if key == 'exclusive' else type(DEFAULTS[key])
    ok = (isinstance(value, list) and all(isinstance(v, str) for v in value) if kind is list else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, kind))
    if not ok:
        want = {list: 'a list of strings', int: 'an integer', str: 'a string'}.get(kind, 'true or false')
        raise SlurmError(f'{where}: key {key!r} must be {want}, got {value!r}')
    if key == 'signal':
        try:
            num = signal_number(value)
        except (ValueError, KeyError):
            num = None
        if num is None or num in (signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP, signal.SIGINT):
            raise SlurmError(f'{where}: key \'signal\' {value!r}: name the time-limit warning signal, e.g. '
                             '"USR2" (default; some NCCL versions catch USR1) or "USR1"; TERM is always trapped '
                             '(preemption, scontrol requeue)')
    if key == 'time':
        try:
            time_seconds(value)
        except (ValueError, KeyError):
            raise SlurmError(f'{where}: key \'time\' {value!r} is no SLURM time (MM, HH:MM:SS, D-HH:MM:SS)') from None


def validate_profile(prof: dict, where: str) -> None:
    """Types, stage names and the signal/time relation of a merged profile: an
    error names the key, before anything is queued."""
    for key, value in prof.items():
        if key != 'stages':
            _check_value(where, key, value)
    stages = prof.get('stages', {})
    if not isinstance(stages, dict):
        raise SlurmError(f'{where}: [stages] must be a table of stage tables')
    for stage, keys in stages.items():
        if stage not in STAGES:  # (Cityscapes-C generation runs with the robustness resources)
            raise SlurmError(f'{where}: unknown stage [stages.{stage}]; known: {", ".join(STAGES)}')
        if not isinstance(keys, dict):
            raise SlurmError(f'{where}: [stages.{stage}] must be a table of profile keys')
        for key, value in keys.items():
            if key not in PROFILE_KEYS - {'stages', 'setup'}:
                raise SlurmError(f'{where}: [stages.{stage}]: unknown key {key!r}')
            _check_value(f'{where} [stages.{stage}]', key, value)
    for stage in (None, ) + tuple(stages):
        res = dict(prof, **(stages.get(stage, {}) if stage else {}))
        if res['signal_seconds'] >= time_seconds(res['time']):
            raise SlurmError(f'{where}{f" [stages.{stage}]" if stage else ""}: signal_seconds = '
                             f'{res["signal_seconds"]} is not shorter than the time limit {res["time"]}: the '
                             'warning would come before the job starts')


def load_cluster_profile(path: Optional[str], overrides: Sequence[str] = ()) -> dict:
    prof = dict(DEFAULTS)
    where = f'cluster profile {path}' if path else 'the default cluster profile'
    if path:
        data = read_toml(path, SlurmError, 'no such cluster profile (see slurm/profiles/example.toml)')
        bad = set(data) - PROFILE_KEYS
        if bad:
            raise SlurmError(f'cluster profile {path}: unknown key(s) {sorted(bad)}; known: {sorted(PROFILE_KEYS)}')
        prof.update(data)
    for item in overrides:
        key, sep, value = item.partition('=')
        if not sep or key not in PROFILE_KEYS - {'stages'}:
            raise SlurmError(f'--slurm takes KEY=VALUE with KEY one of {sorted(PROFILE_KEYS - {"stages"})}, got {item!r}')
        try:
            prof[key] = (value.lower() in ('1', 'true', 'yes') if key == 'exclusive' else [value]
                         if key == 'extra_sbatch' else int(value) if isinstance(DEFAULTS[key], int) else value)
        except ValueError:
            raise SlurmError(f'--slurm {key}={value}: {key} takes an integer') from None
    validate_profile(prof, where + (' with --slurm ' + ' '.join(overrides) if overrides else ''))
    return prof


def resources(prof: dict, stage: str, gpus: int, nodes: int = 1) -> dict:
    res = {k: v for k, v in prof.items() if k != 'stages'}
    res.update(prof.get('stages', {}).get(stage, {}))
    # a timing must not share its node: latency tasks take a whole node unless the profile says otherwise
    if 'exclusive' not in prof.get('stages', {}).get(stage, {}):
        res['exclusive'] = stage == 'latency' if 'exclusive' not in prof else prof['exclusive']
    res['signal'] = signal.Signals(signal_number(res['signal'])).name[3:]  # 'sigusr2' -> 'USR2' for sbatch and trap
    # a row with gpus = N always runs N processes (the global batch is N x the config's):
    # one GPU each where the profile gives GPUs, else N CPU processes (gloo)
    res['nodes'], res['ntasks_per_node'] = nodes, max(1, gpus)
    res['ntasks'] = nodes * res['ntasks_per_node']
    if res['ntasks'] > 1 and res.get('gpus_per_task'):
        res['gpus_per_task'] = 1
    return res


def _atomic_json(path: str, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=2))


def _run(cmd: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _partitions() -> Dict[str, dict]:
    """{partition: its scontrol fields}; a controller that cannot be reached is
    said to be that, not an unknown partition."""
    out = _run(['scontrol', 'show', 'partition', '-o'])
    if out.returncode != 0:
        raise SlurmError(f'cannot reach the SLURM controller ({out.stderr.strip() or "scontrol failed"}): check '
                         '`scontrol ping` and `sinfo`, and that SLURM_CONF names this cluster\'s slurm.conf')
    parts = {}
    for line in out.stdout.splitlines():
        fields = dict(tok.split('=', 1) for tok in line.split() if '=' in tok)
        if 'PartitionName' in fields:
            parts[fields['PartitionName']] = fields
    return parts


def check_slurm(limits: Sequence[Tuple[str, str, str]]) -> None:
    """Before anything is queued: the tools are there, the controller answers,
    every (what, partition, time) names a partition that exists and fits its
    MaxTime (a longer job would pend forever: PartitionTimeLimit)."""
    for tool in ('sbatch', 'squeue', 'scontrol'):
        if shutil.which(tool) is None:
            raise SlurmError(f'`{tool}` is not on PATH: this machine is no SLURM submit host '
                             '(use --backend local, or start the test cluster: slurm/start-slurm.sh)')
    parts = _partitions()
    default = next((n for n, f in parts.items() if f.get('Default') == 'YES'), None)
    for what, part, limit in limits:
        name = part or default
        if name not in parts:
            raise SlurmError(f'unknown partition {part!r}' if part else 'the cluster has no default partition: set '
                             '`partition` in the cluster profile' + f'; the cluster has: {", ".join(parts) or "(none)"}')
        most = parts[name].get('MaxTime', 'UNLIMITED')
        if most not in ('UNLIMITED', 'INFINITE') and time_seconds(limit) > time_seconds(most):
            raise SlurmError(f'{what}: time {limit} is longer than partition {name}\'s MaxTime {most}: the job '
                             'would pend forever (PartitionTimeLimit); set a shorter `time` in the cluster profile '
                             '(or --slurm time=...)')


class Submission:
    """What one `run-experiment TABLE --backend slurm` renders and submits.

    One array per stage (and GPU count). A task that needs another record (a test
    needs its training) waits for that record's own array task only: its array
    index is the prerequisite's index and the array depends on the prerequisite's
    array with ``aftercorr``, so a failed training cancels its own test and no
    other, and nothing waits for the slowest training. A prerequisite already
    queued by an earlier submission (``queued``: key -> its array task ``J_i``) is
    waited for the same way; one already done is not waited for."""

    def __init__(self, table: str, tasks: List[Task], store: Store, prof: dict, argv_for, tables: Sequence[str],
                 queued: Optional[Dict[str, str]] = None):
        self.table = table
        self.store = store
        self.prof = prof
        self.id = time.strftime('%Y%m%d-%H%M%S-') + f'{os.getpid()}'
        self.dir = os.path.join(store.root, 'slurm', f'{table}-{self.id}')
        self.log_dir = os.path.join(self.dir, 'logs')
        self.arrays = []  # in dependency order
        where: Dict[str, Tuple[str, int]] = {}  # key -> (array name, index) in this submission
        queued = queued or {}
        for stage in STAGES:
            for nodes, gpus in sorted({(t.row.nodes, t.row.gpus) for t in tasks if t.stage == stage}):
                group = [t for t in tasks if t.stage == stage and (t.row.nodes, t.row.gpus) == (nodes, gpus)]
                base = stage + (f'-{gpus}gpu' if gpus > 1 else '') + (f'-{nodes}nodes' if nodes > 1 else '')
                for parent, indexed in self._by_parent(group, where, queued):
                    name = base if not any(a['name'] == base for a in self.arrays) else \
                        f'{base}.{sum(a["name"].split(".")[0] == base for a in self.arrays) + 1}'
                    arr = dict(name=name, stage=stage, gpus=gpus, nodes=nodes, parent=parent,
                               tasks=[t for _, t in indexed], indices=[i for i, _ in indexed],
                               entries=[dict(index=i, key=t.key, argv=argv_for(t), tables=list(tables))
                                        for i, t in indexed])
                    self.arrays.append(arr)
                    where.update({t.key: (name, i) for i, t in indexed})

    def _by_parent(self, group: List[Task], where: Dict[str, Tuple[str, int]], queued: Dict[str, str]):
        """[(parent, [(index, task)])]: parent None (nothing to wait for), ('array',
        name) of this submission or ('job', id) of a queued one; within one array
        every index once (two tasks after the same prerequisite go to two arrays)."""
        free, after = [], {}
        for t in group:
            if t.needs and t.needs in where:
                name, i = where[t.needs]
                after.setdefault(('array', name), []).append((i, t))
            elif t.needs and t.needs in queued:
                job, _, i = queued[t.needs].partition('_')
                after.setdefault(('job', job), []).append((int(i), t))
            elif t.needs and not self.store.is_done(t.needs):
                raise SlurmError(f'{t.stage} of {t.row.table}/{t.row.id} needs the record {t.needs}, '
                                 f'which is neither done, nor queued, nor part of this submission: add '
                                 f'{STAGE_NEEDS[t.stage]} to --stages (or run it first)')
            else:
                free.append(t)
        out = [(None, list(enumerate(free)))] if free else []
        for parent, items in after.items():
            while items:
                layer, rest, seen = [], [], set()
                for i, t in items:
                    (rest if i in seen else layer).append((i, t))
                    seen.add(i)
                out.append((parent, sorted(layer, key=lambda x: x[0])))
                items = rest
        return out

    def limits(self) -> List[Tuple[str, str, str]]:
        """(array name, partition, time) of every array, for ``check_slurm``."""
        out = []
        for arr in self.arrays:
            res = resources(self.prof, arr['stage'], arr['gpus'], arr['nodes'])
            out.append((arr['name'], res.get('partition', ''), res['time']))
        return out

    def chain(self) -> List[str]:
        """One line per array: what it runs and what it will wait for (as submit() does)."""
        out = []
        for arr in self.arrays:
            need = STAGE_NEEDS.get(arr['stage'])
            kind, parent = arr['parent'] or (None, None)
            wait = (f'each task after its own {need} task in array {parent} (aftercorr: a failed {need} cancels '
                    f'only its own {arr["stage"]})' if kind == 'array' else
                    f'each task after its own {need} task in the queued job {parent} (aftercorr)' if kind == 'job'
                    else f'no dependency (its {need} records are done)' if need else 'no dependency')
            out.append(f'{arr["name"]}: {len(arr["tasks"])} task(s), {wait}')
        return out

    def render(self) -> List[dict]:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, 'templates')),
                                 trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
        for arr in self.arrays:
            res = resources(self.prof, arr['stage'], arr['gpus'], arr['nodes'])
            manifest = os.path.join(self.dir, f'{arr["name"]}.json')
            arr['manifest'] = manifest
            arr['script_path'] = os.path.join(self.dir, f'{arr["name"]}.sbatch')
            # srun of Slurm 22.05-23.02 does not inherit --cpus-per-task from the batch script: each
            # process and its loader workers would share one CPU
            launcher = (f'srun --ntasks={res["ntasks"]} --cpus-per-task="$SLURM_CPUS_PER_TASK" '
                        if res['ntasks'] > 1 else '')
            arr['script'] = env.get_template('stage.sbatch.j2').render(
                table=self.table, stage=arr['name'], n=len(arr['tasks']), array=array_spec(arr['indices']),
                resumable=arr['stage'] == 'train',
                throttle=res.get('array_throttle'),
                log_dir=self.log_dir, repo=REPO, python=sys.executable, manifest=manifest, launcher=launcher,
                **{**res, 'setup': res.get('setup', '').replace('{repo}', REPO)})
        return self.arrays

    def write(self) -> None:
        os.makedirs(self.log_dir, exist_ok=True)
        for arr in self.arrays:
            _atomic_json(arr['manifest'], dict(runs_dir=self.store.root, entries=arr['entries']))
            with open(arr['script_path'], 'w') as f:
                f.write(arr['script'])

    def _dependency(self, arr: dict, job_ids: Dict[str, str]) -> Optional[str]:
        kind, parent = arr['parent'] or (None, None)
        return f'aftercorr:{job_ids[parent] if kind == "array" else parent}' if kind else None

    def submit(self) -> Dict[str, str]:
        """Validates every script with ``sbatch --test-only``, then submits them
        in order; if any submission fails, the ones made are cancelled. The
        outcome is written to submission.json either way."""
        job_ids: Dict[str, str] = {}
        record = dict(id=self.id, table=self.table, dir=self.dir, status='rejected', error='', arrays=[])
        try:
            for arr in self.arrays:
                out = _run(['sbatch', '--test-only', arr['script_path']])
                if out.returncode != 0:
                    raise SlurmError(f'sbatch rejects {arr["script_path"]}: {out.stderr.strip() or out.stdout.strip()}')
            for arr in self.arrays:
                cmd = ['sbatch', '--parsable']
                dep = self._dependency(arr, job_ids)
                if dep:
                    cmd += [f'--dependency={dep}', '--kill-on-invalid-dep=yes']
                out = _run(cmd + [arr['script_path']])
                if out.returncode != 0:
                    raise SlurmError(f'sbatch failed for {arr["script_path"]}: {out.stderr.strip()}')
                job_ids[arr['name']] = out.stdout.strip().split(';')[0]
                arr['dependency'] = dep
            record['status'] = 'submitted'
        except SlurmError as err:
            if job_ids:  # all or nothing
                _run(['scancel', *job_ids.values()])
            record['error'] = str(err)
            raise
        finally:
            record['arrays'] = [dict(name=a['name'], stage=a['stage'], job_id=job_ids.get(a['name']),
                                     dependency=a.get('dependency'), script=a['script_path'],
                                     keys=[t.key for t in a['tasks']], indices=a['indices'],
                                     log=os.path.join(self.log_dir, f'{a["name"]}-%A_%a.out'))
                                for a in self.arrays]
            _atomic_json(os.path.join(self.dir, 'submission.json'), record)
        return job_ids


def array_spec(indices: Sequence[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (sbatch --array)."""
    parts = []
    # consecutive indices share i - position
    for _, run in itertools.groupby(enumerate(sorted(set(indices))), key=lambda p: p[1] - p[0]):
        run = [i for _, i in run]
        parts.append(f'{run[0]}-{run[-1]}' if len(run) > 1 else str(run[0]))
    return ','.join(parts)


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
    out = _run(['squeue', '-h', '-r', '-j', ','.join(arrays), '-o', '%i %T'])
    for line in out.stdout.splitlines():
        jid, _, state = line.partition(' ')
        states[jid] = state
    for j in job_ids:
        if j not in states:
            show = _run(['scontrol', 'show', 'job', j])
            for tok in show.stdout.split():
                if tok.startswith('JobState='):
                    states[j] = tok.split('=', 1)[1]
                    break
    gone = [j for j in job_ids if j not in states]
    if gone and shutil.which('sacct'):  # forgotten by the controller (MinJobAge): accounting remembers
        out = _run(['sacct', '-n', '-X', '-P', '-o', 'JobID,State', '-j', ','.join(sorted({j.split('_')[0]
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


def submit_cityscapes_c(source: str, out: str, corruptions: Sequence[str], prof: dict, store: Store,
                        protocol: str = 'segformer') -> str:
    """One array task per corruption; returns the job id."""
    res = resources(prof, 'robustness', 0)
    res.update({'gpus_per_task': 0})
    sub_dir = os.path.join(store.root, 'slurm', 'cityscapes-c-' + time.strftime('%Y%m%d-%H%M%S'))
    log_dir = os.path.join(sub_dir, 'logs')
    os.makedirs(log_dir, exist_ok=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, 'templates')),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    script = env.get_template('cityscapes_c.sbatch.j2').render(
        corruptions=list(corruptions), log_dir=log_dir, repo=REPO, python=sys.executable,
        source=os.path.abspath(source), out=os.path.abspath(out), protocol=protocol,
        **{**res, 'setup': res.get('setup', '').replace('{repo}', REPO)})
    path = os.path.join(sub_dir, 'cityscapes-c.sbatch')
    with open(path, 'w') as f:
        f.write(script)
    check_slurm([('cityscapes-c', res.get('partition', ''), res['time'])])
    out_ = _run(['sbatch', '--parsable', path])
    if out_.returncode != 0:
        raise SlurmError(f'sbatch rejects {path}: {out_.stderr.strip()}')
    return out_.stdout.strip().split(';')[0]


class SlurmBackend(Backend):
    """`--backend slurm`: one sbatch array per stage, each task after its own
    prerequisite; the cluster profile from ``--slurm-profile`` and ``--slurm``."""

    name = 'slurm'

    def submission(self, table, tasks: List[Task], store: Store, queued: Dict[str, str]) -> Submission:
        prof = load_cluster_profile(self.options.slurm_profile, self.options.slurm)
        return Submission(table.name, tasks, store, prof, self.argv_for,
                          list(self.options.tables), queued)

    def describe(self, table, tasks: List[Task], store: Store, console) -> None:
        queued = queued_jobs(store)  # empty where SLURM is not reachable from here
        sub = self.submission(table, [t for t in tasks if not store.is_done(t.key) and t.key not in queued],
                               store, queued)
        for arr in sub.render():
            console.print(f'[bold]# {arr["name"]}: {len(arr["tasks"])} task(s) -> {arr["script_path"]}[/]')
            console.print(arr['script'], markup=False, highlight=False)
        console.print('dependency chain to submit:\n' + '\n'.join(f'  {line}' for line in sub.chain()),
                      highlight=False)

    def run(self, table, tasks: List[Task], store: Store, console, report) -> int:
        check_slurm([])  # the tools are there and the controller answers
        queued = queued_jobs(store)  # also what the tasks may wait for
        todo = [t for t in tasks if not store.is_done(t.key)]
        if any(t.key in queued for t in todo):
            console.print(f'{len([t for t in todo if t.key in queued])} task(s) already queued in SLURM: '
                          'not resubmitted')
        todo = [t for t in todo if t.key not in queued]
        if not todo:
            console.print('nothing to submit')
            return 0
        sub = self.submission(table, todo, store, queued)
        arrays = sub.render()
        check_slurm(sub.limits())
        sub.write()
        job_ids = sub.submit()
        for arr in arrays:
            console.print(f'submitted {arr["name"]:12s} job {job_ids[arr["name"]]} ({len(arr["tasks"])} task(s)); '
                          f'script {arr["script_path"]}')
        console.print(f'follow with `{self.options.status}`', highlight=False)
        return 0

    @staticmethod
    def jobs(store: Store, keys: Sequence[str]) -> Dict[str, dict]:
        jobs = {k: j for k, j in latest_jobs(store).items() if k in set(keys)}
        states = job_states([j['job'] for j in jobs.values()])
        return {k: dict(j, state=states.get(j['job'])) for k, j in jobs.items()}

    def cityscapes_c(self, source, out, corruptions, store, protocol, console) -> int:
        check_root('cityscapes', source, splits=('val', ))
        job = submit_cityscapes_c(source, out, corruptions, load_cluster_profile(self.options.slurm_profile,
                                                                                 self.options.slurm),
                                  store, protocol)
        console.print(f'submitted Cityscapes-C generation: job {job}, {len(corruptions)} array task(s), '
                      f'one per corruption')
        return 0
