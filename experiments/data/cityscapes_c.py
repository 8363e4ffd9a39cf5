"""Cityscapes-C: the Cityscapes validation images corrupted once, on disk.

Layout: ``<out>/<corruption>/<severity>/leftImg8bit/val/<city>/*_leftImg8bit.png``
with ``<out>/<corruption>/<severity>/gtFine`` a link to the source's ``gtFine``
(the labels are reused), so every (corruption, severity) folder is a Cityscapes
root mmseg reads. Resumable (finished images are skipped, every image is written
atomically), parallel over processes.

    run-experiment cityscapes-c --data-root cityscapes=PATH --out DIR [--workers N]
                   [--cityscapes-c-protocol segformer|official-bgr]

Or without disk: ``CityscapesCCorruption`` (``experiments.engine.plugins.corruption``,
over :func:`corrupted`), a test-pipeline transform that corrupts
each image as it is loaded, with the same per-image seed, giving the pixels of the
generated files exactly (``run-experiment ... --cityscapes-c-source on-the-fly``);
the corruption cost is then paid at every evaluation instead of once.

Protocols (experiments/data/pipelines.py): ``segformer`` corrupts the RGB image, as
imagecorruptions expects; ``official-bgr`` corrupts the BGR array that mmcv's
LoadImageFromFile returns, as the official on-the-fly ``Corruptions`` transform did,
and writes that array back as the image: the network then sees exactly the pixels
of the official runs (frost and spatter come out with swapped colours). A root
holds one protocol (``protocol.json``); mixing is refused.
"""
import json
import os
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from experiments.core.errors import UsageError
from experiments.core.files import atomic_write
from experiments.data.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from experiments.data.datasets import LAYOUTS, check_root
from experiments.data.pipelines import ROBUSTNESS_PROTOCOLS

SUFFIX = LAYOUTS['cityscapes'].img_suffix


# measured by tools/bench_corruptions.py (2-core x86 VM, one process): all 16
# corruptions of one 2048x1024 image took 6.97 s (severity 3), their PNGs 2.64 MiB
# on average (a real photograph has more detail: its PNGs are larger)
SECONDS_PER_VARIANT_MPIX = 6.97 / 16 / 2.097152
PNG_MIB_PER_MPIX = 2.64 / 2.097152
VARIANTS = len(CORRUPTIONS) * len(SEVERITIES)


def generation_estimate(src: str, out: str, max_images: Optional[int] = None) -> Dict[str, float]:
    """The projected cost of generating Cityscapes-C from ``src`` into ``out``:
    images, variants, CPU-hours and GiB of PNG still to write (what is already
    in ``out`` is not counted). Without a readable source: the 500 validation
    images of Cityscapes at 2048x1024."""
    import cv2
    try:
        rels = val_images(src)[:max_images]
        first = cv2.imread(os.path.join(src, LAYOUTS['cityscapes'].splits['val'][0], rels[0]), cv2.IMREAD_COLOR)
        mpix = first.shape[0] * first.shape[1] / 2**20
    except (OSError, IndexError, AttributeError):
        rels, mpix = [None] * min(500, max_images or 500), 2.0
    done = 0
    for dirpath, _, files in os.walk(out) if os.path.isdir(out) else ():
        done += sum(1 for f in files if f.endswith(SUFFIX) and not os.path.islink(os.path.join(dirpath, f)))
    todo = max(len(rels) * VARIANTS - done, 0)
    return {'images': len(rels), 'variants': VARIANTS, 'done': done, 'to_write': todo,
            'cpu_hours': todo * mpix * SECONDS_PER_VARIANT_MPIX / 3600, 'disk_gib': todo * mpix * PNG_MIB_PER_MPIX / 1024}


def root_for(out: str, corruption: str, severity: int) -> str:
    return os.path.join(out, corruption, str(severity))


def val_images(src: str) -> List[str]:
    base = os.path.join(src, LAYOUTS['cityscapes'].splits['val'][0])
    found = []
    for dirpath, _, files in os.walk(base):
        found += [os.path.relpath(os.path.join(dirpath, f), base) for f in files if f.endswith(SUFFIX)]
    return sorted(found)


def image_seed(seed: int, corruption: str, severity: int, rel: str) -> int:
    return zlib.crc32(f'{seed}/{corruption}/{severity}/{rel}'.encode())


# the uncorrupted images of the same subset, as links, so that the clean mIoU
# is measured on exactly the images the corrupted ones come from
CLEAN = ('clean', 0)


def _work(job: Tuple[str, str, str, int, Sequence[str], int, str]) -> int:
    import cv2
    src, out, corruption, severity, rels, seed, protocol = job
    # the array handed to imagecorruptions: RGB (segformer) or mmcv's BGR (official-bgr)
    flip = _flip_for(protocol)
    img_dir = os.path.join(src, LAYOUTS['cityscapes'].splits['val'][0])
    dst_dir = os.path.join(root_for(out, corruption, severity), LAYOUTS['cityscapes'].splits['val'][0])
    done = 0
    for rel in rels:
        dst = os.path.join(dst_dir, rel)
        if os.path.lexists(dst):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if (corruption, severity) == CLEAN:
            try:
                os.symlink(os.path.abspath(os.path.join(img_dir, rel)), dst)
            except FileExistsError:  # another array task linked it first
                pass
            continue
        img = flip(cv2.imread(os.path.join(img_dir, rel), cv2.IMREAD_COLOR))
        res = corrupt(img, corruption, severity, image_seed(seed, corruption, severity, rel))
        tmp = f"{dst[:-len('.png')]}.{os.getpid()}.part.png"
        cv2.imwrite(tmp, flip(res))
        os.replace(tmp, dst)
        done += 1
    return done


def _flip_for(protocol: str):
    """The array imagecorruptions is given, from and back to mmcv's BGR."""
    return (lambda a: a[..., ::-1]) if protocol == 'segformer' else (lambda a: a)


def corrupted(img: np.ndarray, img_path: str, corruption: str, severity: int, seed: int = 0,
              protocol: str = 'segformer') -> np.ndarray:
    """A loaded BGR image (mmcv's ``LoadImageFromFile``) corrupted exactly as :func:`generate`
    writes it: the same per-image seed, from its path under ``leftImg8bit/val``, the same
    protocol. The test pipeline's ``CityscapesCCorruption`` (``experiments.engine.plugins``)
    applies it."""
    if corruption not in CORRUPTIONS or severity not in SEVERITIES:
        raise UsageError(f'unknown corruption/severity {corruption!r}/{severity!r}')
    split = os.sep + LAYOUTS['cityscapes'].splits['val'][0].replace('/', os.sep) + os.sep
    rel = img_path.rpartition(split)[2]
    flip = _flip_for(protocol)
    return np.ascontiguousarray(flip(corrupt(flip(img), corruption, severity,
                                             image_seed(seed, corruption, severity, rel))))


def _link_labels(src: str, out: str, corruption: str, severity: int) -> None:
    link = os.path.join(root_for(out, corruption, severity), 'gtFine')
    target = os.path.abspath(os.path.join(src, 'gtFine'))
    if os.path.islink(link) and os.readlink(link) == target:
        return
    os.makedirs(os.path.dirname(link), exist_ok=True)
    tmp = f'{link}.{os.getpid()}.tmp'  # one per process: array tasks link concurrently
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def generate(src: str, out: str, corruptions: Iterable[str] = CORRUPTIONS,
             severities: Iterable[int] = SEVERITIES, workers: int = 1, seed: int = 0,
             max_images: Optional[int] = None, chunk: int = 4,
             protocol: str = 'segformer') -> Dict[str, float]:
    """Writes what is missing; returns counts and throughput."""
    if protocol not in ROBUSTNESS_PROTOCOLS:
        raise UsageError(f'unknown Cityscapes-C protocol {protocol!r}; known: {", ".join(ROBUSTNESS_PROTOCOLS)}')
    check_root('cityscapes', src, splits=('val', ))
    marker = os.path.join(out, 'protocol.json')
    if os.path.exists(marker):
        with open(marker) as f:
            have = json.load(f).get('protocol')
        if have != protocol:
            raise UsageError(f'{out} holds Cityscapes-C of protocol {have!r}, not {protocol!r}: '
                             'give another output folder')
    else:
        atomic_write(marker, json.dumps({'protocol': protocol, 'seed': seed}))
    rels = val_images(src)[:max_images]
    pairs = [CLEAN]
    for c in corruptions:
        if c not in CORRUPTIONS:
            raise UsageError(f'unknown corruption {c!r}; known: {", ".join(CORRUPTIONS)}')
        pairs += [(c, s) for s in severities]
    _work((src, out, *CLEAN, rels, seed, protocol))
    jobs = []
    for c, s in pairs:
        _link_labels(src, out, c, s)
        if (c, s) != CLEAN:
            jobs += [(src, out, c, s, rels[i:i + chunk], seed, protocol) for i in range(0, len(rels), chunk)]
    t0 = time.monotonic()
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            written = sum(pool.map(_work, jobs))
    else:
        written = sum(map(_work, jobs))
    dt = time.monotonic() - t0
    return {'images': len(rels), 'written': written, 'seconds': dt,
            'images_per_second': written / dt if dt > 0 and written else 0.0}
