"""Multi-process training under srun: the process group from SLURM's variables."""
import os
import subprocess
from typing import Optional

import torch


def init_from_slurm() -> Optional[dict]:
    """Joins the process group of a multi-task SLURM step (``UMIX_LAUNCHER=slurm``,
    set by the batch script for rows with ``gpus = N``): rank, world size and local
    rank from SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID, the rendezvous on the
    step's first node at a port derived from the job id (two multi-process array
    tasks on one node never collide; mmengine's SLURM launcher uses 29500 for all
    and calls ``torch.cuda.set_device`` on CPU builds too). NCCL with GPUs, gloo
    without. Returns what the record states, or None for a single process."""
    world = int(os.environ.get('SLURM_NTASKS', '1'))
    if os.environ.get('UMIX_LAUNCHER') != 'slurm' or world < 2:
        return None
    import torch.distributed as dist
    if dist.is_initialized():
        return describe()
    rank, local = int(os.environ['SLURM_PROCID']), int(os.environ.get('SLURM_LOCALID', '0'))
    nodes = os.environ.get('SLURM_STEP_NODELIST') or os.environ.get('SLURM_JOB_NODELIST', '127.0.0.1')
    host = nodes.split(',')[0]
    if '[' in host:  # a range (node[01-04]): SLURM expands it
        try:
            host = subprocess.run(['scontrol', 'show', 'hostnames', nodes], capture_output=True, text=True,
                                  timeout=60).stdout.split()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            raise RuntimeError(f'cannot expand the node list {nodes!r} (scontrol show hostnames)') from None
    port = 20000 + int(os.environ.get('SLURM_JOB_ID', '0')) % 20000
    os.environ.update(MASTER_ADDR=host, MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(local))
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if backend == 'nccl':
        torch.cuda.set_device(local % torch.cuda.device_count())
    dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return describe()


def describe() -> Optional[dict]:
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return {'backend': dist.get_backend(), 'world_size': dist.get_world_size(), 'sync_bn': torch.cuda.is_available()}


def finish() -> None:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
