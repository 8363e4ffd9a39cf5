"""Forward latency (tensor mode, batch 1, fp32) of U-MixFormer-B0 -- the plain
reference implementation, with SDPA only, and fully optimized (SDPA +
projected-first fuse, with and without channels-last) -- against SegFormer-B0,
all in one process, on this machine.

    .venv/bin/python tools/bench_forward.py [--runs 5] [--warmup 1]
"""
import argparse
import os
import statistics
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = os.path.join(ROOT, 'experiments', 'configs')
MODELS = {
    'ade20k': ('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
               'segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py', (512, 512)),
    'cityscapes': ('umixformer/umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py',
                   'segformer/segformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', (1024, 2048)),
}


def time_forward(model, hw, runs, warmup, channels_last=False):
    x = torch.randn(1, 3, *hw)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times), max(times)


def main():
    from umixformer.complexity import build_segmentor
    from umixformer.optimize import optimize_for_inference, set_plain
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--runs', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    args = p.parse_args()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, runs={args.runs}')
    for ds, (umix, seg, hw) in MODELS.items():
        res = {}
        m = set_plain(build_segmentor(os.path.join(CFG, umix)))
        res['U-MixFormer-B0 reference'] = time_forward(m, hw, args.runs, args.warmup)
        for a in m.modules():
            if hasattr(a, 'fused'):
                a.fused = True
        res['U-MixFormer-B0 SDPA only'] = time_forward(m, hw, args.runs, args.warmup)
        m = optimize_for_inference(m)
        res['U-MixFormer-B0 optimized'] = time_forward(m, hw, args.runs, args.warmup)
        m = optimize_for_inference(m, channels_last=True)
        res['U-MixFormer-B0 optimized+CL'] = time_forward(m, hw, args.runs, args.warmup, True)
        sf = build_segmentor(os.path.join(CFG, seg))
        res['SegFormer-B0'] = time_forward(sf, hw, args.runs, args.warmup)
        sf = sf.to(memory_format=torch.channels_last)
        res['SegFormer-B0 channels-last'] = time_forward(sf, hw, args.runs, args.warmup, True)
        base = res['SegFormer-B0'][0]
        for name, (med, lo, hi) in res.items():
            print(f'{ds:10s} {hw[1]}x{hw[0]}  {name:34s} median {med:8.1f} ms  '
                  f'[{lo:.1f}, {hi:.1f}]  x{med / base:.2f} SegFormer-B0')


if __name__ == '__main__':
    main()
