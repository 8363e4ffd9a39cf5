"""Process memory settings: glibc malloc for CPU training (``heap_kept``), Python's
garbage collections around a stage (``collections_bounded``).

PyTorch has no caching allocator on the CPU: every activation and gradient is a
fresh ``malloc``. glibc serves blocks above its mmap threshold (at most 32 MiB)
with a new ``mmap`` and unmaps them on ``free``, so each large tensor of each
step page-faults its memory in again (the 150-class logits of a batch of 8 at
128x128 are 79 MB). Keeping freed memory in the heap made a U-MixFormer-B0 step
with ADE20K's 150 classes at 128x128 18 % faster (0.484 -> 0.395 s on 2 cores);
with the smoke profile's 21-class heads on the built-in data the tensors stay
below the threshold and it changes nothing (86.4 vs 86.6 s per training). Results
are bit-identical: only where the memory comes from changes. GPU trainings do
not use it (their activations are not malloc'd).
"""
import contextlib
import ctypes
import ctypes.util
import gc
import importlib
import types
from typing import Iterator

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
_DEFAULT_MMAP_MAX = 65536
_DEFAULT_TRIM = 128 * 1024


def _libc():
    name = ctypes.util.find_library('c')
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # glibc only (not musl, not macOS)
    except (OSError, AttributeError, TypeError):
        return None
    return libc


@contextlib.contextmanager
def heap_kept() -> Iterator[bool]:
    """Within the block, freed memory stays in the process's heap (no mmap per
    large block, no trimming); afterwards glibc's defaults come back and the
    unused heap is returned to the system. Yields whether the setting applied."""
    libc = _libc()
    applied = bool(libc and libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    try:
        yield applied
    finally:
        if libc:
            libc.mallopt(M_MMAP_MAX, _DEFAULT_MMAP_MAX)
            libc.mallopt(M_TRIM_THRESHOLD, _DEFAULT_TRIM)
            libc.malloc_trim(0)


@contextlib.contextmanager
def collections_bounded() -> Iterator[None]:
    """Around a stage's computation: mmengine's ``BaseDataset`` runs a full ``gc.collect()``
    each time a dataset is built, which, with torch, mmseg and a model loaded, walks every
    object: 0.18-0.25 s per dataset here, 45 % of the robustness stage's time on the tiny
    profile (81 test loaders), 21 % of a check-profile task (two datasets per Runner). Inside
    the block those calls do nothing; after it one collection frees what the stage left in
    reference cycles (its model, its optimizer's state), and it walks only what was made
    since the previous stage ended: what is alive right after a collection is frozen
    (``gc.freeze``, as CPython documents for long-lived objects), so each collection walks
    one stage's objects, not everything a long process (a run of many tasks, a test
    worker) has made: 0.4 s per stage in a test worker otherwise. Only a collection's
    survivors are frozen, and only after a stage that ended normally: a failed stage's
    traceback holds its frames (the model among their locals) until it is handled.
    Freezing at a stage's start, before collecting, kept the previous task's garbage for
    good: a check of Table 2 grew to 13 GB."""
    global _FROZEN
    if not _FROZEN:
        gc.collect()
        gc.freeze()
        _FROZEN = True
    module = importlib.import_module('mmengine.dataset.base_dataset')
    module.gc = _NO_COLLECTION
    ended = False
    try:
        yield
        ended = True
    finally:
        module.gc = gc
        gc.collect()
        if ended:
            gc.freeze()


_NO_COLLECTION = types.SimpleNamespace(collect=lambda *args, **kwargs: 0)
_FROZEN = False  # whether this process froze what its imports made
