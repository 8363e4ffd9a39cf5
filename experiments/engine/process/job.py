"""The job side of a cluster task: one planned task, computed in this process (under
srun, as one of several), with the exit status the batch script acts on."""
from experiments.core.signals import Preempted
from experiments.engine.process.distributed import finish, init_from_slurm
from experiments.engine.process.executor import run_task
from experiments.planning.tasks import Task
from experiments.store import Store

DONE, FAILED, PREEMPTED = 0, 1, 3  # exit statuses: the batch script requeues on 3


def run_job(task: Task, store: Store, command: str) -> int:
    init_from_slurm()  # a row with gpus = N: N processes under srun
    try:
        rec = run_task(task, store, command)
    except Preempted:
        return PREEMPTED
    finally:
        finish()
    print(f'exec-task: {rec.key}: {rec.status}')
    return DONE if rec.status == 'done' else FAILED
