"""Checkpoints written whole or not at all."""
import os
from typing import Union

from mmengine.fileio.backends import LocalBackend, register_backend

from experiments.core.files import atomic_write

ATOMIC_BACKEND = dict(backend='umix_atomic_local')


@register_backend('umix_atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, but every write goes to a temporary file in
    the same folder and is renamed over the target once complete (and synced):
    a job killed or requeued during a checkpoint save leaves the previous file,
    never a truncated one that a resume would meet. Used by the training's
    ``CheckpointHook`` (``backend_args``) and the preemption checkpoint."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        atomic_write(os.fspath(filepath), obj)

    def put_text(self, obj: str, filepath: Union[str, os.PathLike], encoding: str = 'utf-8') -> None:
        atomic_write(os.fspath(filepath), obj.encode(encoding))
