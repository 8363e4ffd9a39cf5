"""Cityscapes-C generation cost at 2048x1024: seconds and PNG size per image
for each corruption (one process), the same on all cores at once, the compiled
glass blur against imagecorruptions' Python loop, and the projected cost of a
full Cityscapes-C (500 images x 80 variants) on this machine.

    python tools/bench_corruptions.py [--severity 3] [--upstream-glass]
"""
import argparse
import os
import time

import numpy as np


def _one(job) -> None:
    from experiments.data.corruptions import corrupt
    img, name, severity = job
    corrupt(img, name, severity, seed=0)


def main() -> None:
    from PIL import Image

    from experiments.data import corruptions
    from experiments.data.corruptions import CORRUPTIONS, corrupt
    from experiments.data.datasets import synth_sample
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--severity', type=int, default=3)
    parser.add_argument('--upstream-glass', action='store_true',
                        help='also time imagecorruptions\' own glass blur (about a minute)')
    args = parser.parse_args()
    img, _ = synth_sample(np.random.default_rng(0), 'cityscapes')
    import cv2
    img = np.ascontiguousarray(cv2.resize(img, (2048, 1024), interpolation=cv2.INTER_LINEAR))
    corrupt(img[:64, :64], 'glass_blur', 1, seed=0)  # compile (or load numba's cache) first
    per, png = {}, {}
    for name in CORRUPTIONS:
        t = time.perf_counter()
        out = corrupt(img, name, args.severity, seed=0)
        per[name] = time.perf_counter() - t
        png[name] = len(cv2.imencode('.png', out[..., ::-1])[1]) / 2**20
        print(f'{name:18s} {per[name]:7.2f} s  PNG {png[name]:5.2f} MiB')
    total = sum(per.values())
    print(f'{"all 16":18s} {total:7.2f} s per 2048x1024 image at severity {args.severity}, '
          f'PNG {sum(png.values()) / len(png):.2f} MiB on average')
    if args.upstream_glass:
        corruptions.load()
        np.random.seed(0)
        t = time.perf_counter()
        corruptions.upstream_glass_blur(Image.fromarray(img), args.severity)
        up = time.perf_counter() - t
        print(f'glass_blur upstream {up:.2f} s, compiled {per["glass_blur"]:.2f} s: '
              f'{up / per["glass_blur"]:.1f}x faster')
    cores = os.cpu_count() or 1
    # all cores: the 16 corruptions of `cores` images at once, one per process
    from concurrent.futures import ProcessPoolExecutor
    jobs = [(img, name, args.severity) for _ in range(cores) for name in CORRUPTIONS]
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_one, jobs[:cores]))  # start the workers and compile the kernel in each
        t = time.perf_counter()
        list(pool.map(_one, jobs))
        wall = time.perf_counter() - t
    print(f'all {cores} cores: {wall / cores:.2f} s of wall time per image (16 corruptions), '
          f'{total / (wall / cores):.1f}x one process')
    hours = total * 500 * 5 / 3600  # 16 corruptions x 5 severities x 500 images
    disk = sum(png.values()) / len(png) * 500 * 80 / 1024
    print(f'full Cityscapes-C (500 val images x 80): about {hours:.1f} CPU-hours; '
          f'{hours / cores:.1f} h on this machine\'s {cores} cores; about {disk:.0f} GiB of PNG')


if __name__ == '__main__':
    main()
