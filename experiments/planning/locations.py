"""Where a task reads what lies outside its run folder."""
import hashlib
import os

from experiments.core.environment import value
from experiments.planning.tasks import Task
from experiments.store import Store


def cityscapes_c_root(task: Task, store: Store) -> str:
    """$UMIX_CITYSCAPES_C_ROOT, else generated beside the runs, per source root and
    protocol (a root holds one protocol; generation refuses to mix)."""
    protocol = task.options.get('protocol', 'segformer')
    if value('UMIX_CITYSCAPES_C_ROOT'):
        return value('UMIX_CITYSCAPES_C_ROOT')
    tag = hashlib.sha1(os.path.abspath(task.data_root).encode()).hexdigest()[:8]
    suffix = '' if protocol == 'segformer' else f'-{protocol}'
    return os.path.join(store.data_dir(), f'cityscapes-c-{tag}{suffix}')
