"""The submit side: one ``sbatch --array`` script per stage, rendered from a template into
the run folder, each task after its own prerequisite, submitted all or nothing."""
import itertools
import json
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import jinja2

from experiments.core.files import atomic_write
from experiments.core.stages import stage_names, stage_spec
from experiments.planning.projection import Projection
from experiments.planning.tasks import Task
from experiments.store import Store
from slurm.cluster import check_slurm, max_batch_requeue, partition_limit, run_tool
from slurm.profile import HERE, REPO, SlurmError, resources, time_seconds
from slurm.sizing import describe as describe_sizing
from slurm.sizing import size, time_text, warns


def _atomic_json(path: str, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=2))


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
                 queued: Optional[Dict[str, str]] = None, projected: Optional[Dict[str, Projection]] = None):
        self.table = table
        self.projected = projected or {}  # key -> its calibrated projection: sizes --time
        self._cluster: Dict[str, Optional[int]] = {}  # partition -> MaxTime s; 'requeue' -> MaxBatchRequeue
        self.store = store
        self.prof = prof
        self.id = time.strftime('%Y%m%d-%H%M%S-') + f'{os.getpid()}'
        self.dir = os.path.join(store.root, 'slurm', f'{table}-{self.id}')
        self.log_dir = os.path.join(self.dir, 'logs')
        self.arrays = []  # in dependency order
        where: Dict[str, Tuple[str, int]] = {}  # key -> (array name, index) in this submission
        queued = queued or {}
        for stage in stage_names():
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
                                 f'{stage_spec(t.stage).needs} to --stages (or run it first)')
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

    def resources(self, arr: dict) -> dict:
        """An array's resources: the profile's, with --time sized from the calibration
        where every task of the array is projected (``arr['sizing']`` says how)."""
        res = resources(self.prof, arr['stage'], arr['gpus'], arr['nodes'])
        proj = [self.projected.get(t.key) for t in arr['tasks']]
        arr['sizing'] = arr['sized'] = None
        if proj and all(p is not None and p.calibrated for p in proj):
            part = res.get('partition', '')
            if part not in self._cluster:  # asked once per partition (None: unlimited or not reachable)
                self._cluster[part] = partition_limit(part)
            limit = time_seconds(res['time'])
            limit = min(limit, self._cluster[part]) if self._cluster[part] else limit
            sz = size(max(p.seconds for p in proj), limit, res['signal_seconds'], stage_spec(arr['stage']).resumable)
            if sz.segments > 1 and 'requeue' not in self._cluster:
                self._cluster['requeue'] = max_batch_requeue()
            res['time'] = time_text(sz.time_s)
            arr['sized'] = sz
            arr['sizing'] = describe_sizing(sz, proj[0].device, limit, self._cluster.get('requeue'))
            arr['sizing_warns'] = warns(sz, self._cluster.get('requeue'))
        return res

    def limits(self) -> List[Tuple[str, str, str]]:
        """(array name, partition, time) of every array, for ``check_slurm``."""
        out = []
        for arr in self.arrays:
            res = self.resources(arr)
            out.append((arr['name'], res.get('partition', ''), res['time']))
        return out

    def chain(self) -> List[str]:
        """One line per array: what it runs and what it will wait for (as submit() does)."""
        out = []
        for arr in self.arrays:
            need = stage_spec(arr['stage']).needs
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
            res = self.resources(arr)
            manifest = os.path.join(self.dir, f'{arr["name"]}.json')
            arr['manifest'] = manifest
            arr['script_path'] = os.path.join(self.dir, f'{arr["name"]}.sbatch')
            # srun of Slurm 22.05-23.02 does not inherit --cpus-per-task from the batch script: each
            # process and its loader workers would share one CPU
            launcher = (f'srun --ntasks={res["ntasks"]} --cpus-per-task="$SLURM_CPUS_PER_TASK" '
                        if res['ntasks'] > 1 else '')
            arr['script'] = env.get_template('stage.sbatch.j2').render(
                table=self.table, stage=arr['name'], n=len(arr['tasks']), array=array_spec(arr['indices']),
                sizing=arr['sizing'] or '',
                resumable=stage_spec(arr['stage']).resumable,
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
                out = run_tool(['sbatch', '--test-only', arr['script_path']])
                if out.returncode != 0:
                    raise SlurmError(f'sbatch rejects {arr["script_path"]}: {out.stderr.strip() or out.stdout.strip()}')
            for arr in self.arrays:
                cmd = ['sbatch', '--parsable']
                dep = self._dependency(arr, job_ids)
                if dep:
                    cmd += [f'--dependency={dep}', '--kill-on-invalid-dep=yes']
                out = run_tool(cmd + [arr['script_path']])
                if out.returncode != 0:
                    raise SlurmError(f'sbatch failed for {arr["script_path"]}: {out.stderr.strip()}')
                job_ids[arr['name']] = out.stdout.strip().split(';')[0]
                arr['dependency'] = dep
            record['status'] = 'submitted'
        except SlurmError as err:
            if job_ids:  # all or nothing
                run_tool(['scancel', *job_ids.values()])
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
    out_ = run_tool(['sbatch', '--parsable', path])
    if out_.returncode != 0:
        raise SlurmError(f'sbatch rejects {path}: {out_.stderr.strip()}')
    return out_.stdout.strip().split(';')[0]


