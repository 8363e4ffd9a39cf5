"""Multi-process training under srun: the process group from SLURM's variables."""
import os
import re
import socket
import subprocess
from dataclasses import dataclass
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
    global _PLACEMENT
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
    host = _address(host)
    port = 20000 + int(os.environ.get('SLURM_JOB_ID', '0')) % 20000
    place = _PLACEMENT = placement(local, torch.cuda.device_count() if torch.cuda.is_available() else 0,
                                   _tasks_per_node())
    os.environ.update(MASTER_ADDR=host, MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(place.local_rank))
    if place.device_index is not None:
        torch.cuda.set_device(place.device_index)
    dist.init_process_group(backend=place.backend, rank=rank, world_size=world)
    return describe()


def _address(node: str) -> str:
    """Where the other processes reach ``node``: its name where that resolves, else the
    NodeAddr SLURM reaches it at (clusters whose node names are not host names)."""
    try:
        socket.getaddrinfo(node, None)
        return node
    except socket.gaierror:
        pass
    try:
        out = subprocess.run(['scontrol', 'show', 'node', '-o', node], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ''
    m = re.search(r'\bNodeAddr=(\S+)', out)
    if not m:
        raise RuntimeError(f'cannot reach node {node!r}: its name does not resolve and `scontrol show node` '
                           'gives no NodeAddr')
    return m.group(1)


def _tasks_per_node() -> int:
    """This node's task count: SLURM_NTASKS_PER_NODE, else the first count of
    SLURM_TASKS_PER_NODE ('2(x3)' or '2,1')."""
    text = os.environ.get('SLURM_NTASKS_PER_NODE') or os.environ.get('SLURM_TASKS_PER_NODE', '1')
    m = re.match(r'\d+', text)
    return int(m.group(0)) if m else 1


@dataclass(frozen=True)
class Placement:
    """Where one process of a multi-process training runs."""
    backend: str  # nccl with GPUs, gloo without
    device_index: Optional[int]  # the CUDA device it drives (None: the CPU)
    local_rank: int  # what LOCAL_RANK says: mmengine hands it to DDP as device_ids

    def wrapper_cfg(self, find_unused_parameters: bool) -> dict:
        """mmengine's DDP wrapper as the official runs had it (mmengine's default for a
        config that sets find_unused_parameters: broadcast_buffers False), on this device."""
        return dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                    find_unused_parameters=bool(find_unused_parameters),
                    device_ids=None if self.device_index is None else [self.device_index])


def placement(local_id: int, visible_gpus: int, tasks_per_node: int = 1) -> Placement:
    """The device of the task with SLURM_LOCALID ``local_id`` on a node where it sees
    ``visible_gpus`` GPUs. With ``--gpus-per-task=1`` (or GPU binding) each task sees one
    GPU, index 0, whatever its local id; with all the node's GPUs visible to every task,
    task i drives GPU i. Fewer GPUs than tasks on the node would put two processes on one
    GPU: an error naming the fix."""
    if visible_gpus <= 0:
        return Placement('gloo', None, local_id)
    if visible_gpus == 1:
        return Placement('nccl', 0, 0)
    if local_id >= visible_gpus or tasks_per_node > visible_gpus:
        raise RuntimeError(f'task {local_id} of {tasks_per_node} on this node sees {visible_gpus} GPUs: two processes '
                           'would share a GPU. Request one GPU per task (--gpus-per-task=1, the cluster profile\'s '
                           'default) or as many GPUs per node as tasks')
    return Placement('nccl', local_id, local_id)


_PLACEMENT: Optional['Placement'] = None  # set by init_from_slurm


def current_placement() -> 'Placement':
    """This process's placement: as init_from_slurm chose it, else the current device."""
    if _PLACEMENT is not None:
        return _PLACEMENT
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        return Placement('nccl', index, index)
    return Placement('gloo', None, int(os.environ.get('LOCAL_RANK', '0')))


def describe() -> Optional[dict]:
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return None
    out = {'backend': dist.get_backend(), 'world_size': dist.get_world_size(), 'sync_bn': torch.cuda.is_available()}
    if os.environ.get('SLURM_STEP_NUM_NODES'):  # under srun: over how many nodes the processes ran
        out['nodes'] = int(os.environ['SLURM_STEP_NUM_NODES'])
    return out


def finish() -> None:
    global _PLACEMENT
    _PLACEMENT = None
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
