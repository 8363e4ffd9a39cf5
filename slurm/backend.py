"""The SLURM backend: one ``sbatch --array`` job per stage (one task per missing
row and seed), each task after its own prerequisite (``--dependency=aftercorr``
with matching indices, ``--kill-on-invalid-dep=yes``); scripts rendered from a template into the run
folder before submission; all-or-nothing submission."""
from typing import Dict, List, Optional, Sequence, Tuple

from experiments.backends.base import Backend
from experiments.core.stages import stage_spec
from experiments.core.environment import value
from experiments.data.datasets import check_root
from experiments.planning.projection import projections
from experiments.planning.tasks import Task
from experiments.registry.profiles import get_profile
from experiments.store import Store
from slurm.cluster import check_slurm, job_states, latest_jobs, queued_jobs
from slurm.profile import load_cluster_profile
from slurm.submission import Submission, submit_cityscapes_c


class SlurmBackend(Backend):
    """`--backend slurm`: one sbatch array per stage, each task after its own
    prerequisite; the cluster profile from ``--slurm-profile`` and ``--slurm``."""

    name = 'slurm'

    def cluster_profile(self) -> Tuple[Optional[str], Tuple[str, ...]]:
        """Its own options (``experiments.backends.base``): the profile file ($UMIX_SLURM_PROFILE
        if not given) and the ``--slurm KEY=VALUE`` overrides."""
        settings = self.options.settings
        return settings.get('slurm_profile') or value('UMIX_SLURM_PROFILE'), tuple(settings.get('slurm', ()))

    def submission(self, table, tasks: List[Task], store: Store, queued: Dict[str, str]) -> Submission:
        prof = load_cluster_profile(*self.cluster_profile())
        profile = get_profile(tasks[0].profile) if tasks else None
        projected = projections(tasks, store, profile, self.options.calibration) if profile else {}
        return Submission(table.name, tasks, store, prof, self.argv_for,
                          list(self.options.tables), queued, projected)

    def describe(self, table, tasks: List[Task], store: Store, console) -> None:
        queued = queued_jobs(store)  # empty where SLURM is not reachable from here
        sub = self.submission(table, [t for t in tasks if not store.is_done(t.key) and t.key not in queued],
                               store, queued)
        for arr in sub.render():
            console.print(f'[bold]# {arr["name"]}: {len(arr["tasks"])} task(s) -> {arr["script_path"]}[/]')
            console.print(arr['script'], markup=False, highlight=False)
        console.print('dependency chain to submit:\n' + '\n'.join(f'  {line}' for line in sub.chain()),
                      highlight=False)
        print_sizing(sub.arrays, console)

    def gpu_memory_gb(self, stage: str) -> Optional[float]:
        prof = load_cluster_profile(*self.cluster_profile())
        value = prof.get('stages', {}).get(stage, {}).get('gpu_memory_gb', prof['gpu_memory_gb'])
        return float(value) if value else None

    def check(self) -> None:
        check_slurm([])  # the tools are there and the controller answers

    def run(self, table, tasks: List[Task], store: Store, console, report) -> int:
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
        print_sizing(arrays, console)
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
        job = submit_cityscapes_c(source, out, corruptions, load_cluster_profile(*self.cluster_profile()),
                                  store, protocol)
        console.print(f'submitted Cityscapes-C generation: job {job}, {len(corruptions)} array task(s), '
                      f'one per corruption')
        return 0


def print_sizing(arrays: List[dict], console) -> None:
    """Each array's --time: from the calibration (and its requeue segments), or the profile's."""
    for arr in (a for a in arrays if stage_spec(a['stage']).projected):
        warn = arr.get('sized') is not None and arr['sizing_warns']
        text = arr['sizing'] or 'the cluster profile\'s time (not every task calibrated for this device)'
        console.print(f'{"[yellow]warning:[/] " if warn else ""}time of {arr["name"]}: {text}', highlight=False)
