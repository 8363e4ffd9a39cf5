"""Time the data check `run`/`plan` make of a dataset root: the first (every label
decoded, every image header read) and the cached one (one walk of the file list).

    python tools/bench_data_check.py [--pairs 2000] [--workers N] [--folder DIR]

Makes an ADE20K-like root of PAIRS training pairs at ADE20K's typical size (512x683
JPEG images, 8-bit PNG labels) once in DIR (plus 10 % validation pairs).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments.core.device import available_cpus  # noqa: E402
from experiments.data.check import verify  # noqa: E402
from experiments.data.datasets import check_root  # noqa: E402


def make_root(root: str, pairs: int) -> None:
    rng = np.random.default_rng(0)
    h, w = 512, 683
    for split, img_dir, seg_dir, n in (('train', 'images/training', 'annotations/training', pairs),
                                       ('val', 'images/validation', 'annotations/validation', max(pairs // 10, 1))):
        os.makedirs(os.path.join(root, img_dir))
        os.makedirs(os.path.join(root, seg_dir))
        for i in range(n):
            label = np.kron(rng.integers(0, 151, (h // 32 + 1, w // 32 + 1)), np.ones((32, 32)))[:h, :w]
            img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            stem = f'ADE_{split}_{i:08d}'
            cv2.imwrite(os.path.join(root, img_dir, stem + '.jpg'), img)
            cv2.imwrite(os.path.join(root, seg_dir, stem + '.png'), label.astype(np.uint8))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pairs', type=int, default=2000)
    p.add_argument('--workers', type=int, default=available_cpus())
    p.add_argument('--folder', default=None, help='where the root is made (default: a temporary folder)')
    args = p.parse_args()
    folder = args.folder or tempfile.mkdtemp(prefix='bench-data-check-')
    root, cache = os.path.join(folder, 'ADEChallengeData2016'), os.path.join(folder, 'cache')
    if not os.path.isdir(root):
        t0 = time.perf_counter()
        make_root(root, args.pairs)
        print(f'made {root}: {time.perf_counter() - t0:.1f} s')
    shutil.rmtree(cache, ignore_errors=True)
    t0 = time.perf_counter()
    check_root('ade20k', root)
    layout = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = verify('ade20k', root, cache, args.workers)
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = verify('ade20k', root, cache, args.workers)
    cached = time.perf_counter() - t0
    assert not first.cached and again.cached and first.counts() == again.counts()
    n = sum(first.counts().values())
    print(f'{n} pairs, {args.workers} workers: layout and pairing only (the check before) {layout:.2f} s; '
          f'file by file, first time {full:.2f} s ({1000 * full / n:.2f} ms per pair); cached {cached:.2f} s')
    if not args.folder:
        shutil.rmtree(folder)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
