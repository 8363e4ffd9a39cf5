"""One training step of U-MixFormer-B0 (ADE20K config, 512x512, batch 2:
forward, loss, backward, the config's AdamW step with its param groups), the
model as the official code computes it (``set_plain``: explicit softmax(qk^T)v in
the head, mmseg's ``nn.MultiheadAttention`` in the encoder, concat-then-fuse) against
the suite's training computation (``set_fused``: fused attention in both, the
projected-first fuse), same weights. Each variant runs in its own process so its
peak memory is its own (CPU: peak RSS above the built model; GPU: peak
allocated).

    .venv/bin/python tools/bench_train_step.py [--iters 5] [--batch 2]
"""
import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'experiments', 'configs', 'umixformer',
                      'umixformer_mit-b0_1xb16-160k_ade20k-512x512.py')


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_variant(variant: str, iters: int, batch: int, size: int, config: str = CONFIG) -> dict:
    """``iters`` timed training steps (after one warm-up) of ``config``'s model, its
    optimizer and loss, on a random batch at ``size``; the head ``official`` (set_plain)
    or ``ours`` (as it trains). Returns median ms/step, peak memory, the last loss."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from experiments.planning.configs import load_base_config
    from umixformer.complexity import build_segmentor
    from umixformer.optimize import set_fused, set_plain
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg = load_base_config(config)
    torch.manual_seed(0)
    model = build_segmentor(cfg, eval_mode=False).train().to(dev)
    if variant == 'official':
        set_plain(model)
    else:  # as the suite trains (experiments/engine/stages.py)
        set_fused(model, True)
    optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, size, size, generator=gen).to(dev)
    samples = []
    for _ in range(batch):
        s = SegDataSample()
        classes = model.decode_head.num_classes
        s.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, size, size), generator=gen).to(dev))
        s.set_metainfo(dict(img_shape=(size, size), pad_shape=(size, size)))
        samples.append(s)
    base = _rss_mb()
    if dev == 'cuda':
        torch.cuda.reset_peak_memory_stats()

    def step() -> float:
        losses = model.loss(x, samples)
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.update_params(loss)
        return float(loss)

    step()  # warm-up
    if dev == 'cuda':
        torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        loss = step()
        if dev == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev == 'cuda' else _rss_mb() - base
    return {'variant': variant, 'ms': 1000 * sorted(times)[len(times) // 2], 'peak_mb': peak, 'loss': loss,
            'device': dev}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--size', type=int, default=512)
    p.add_argument('--variant', choices=['official', 'ours'], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.iters, args.batch, args.size)))
        return
    res = {}
    for variant in ('official', 'ours'):
        out = subprocess.run([sys.executable, __file__, '--variant', variant, '--iters', str(args.iters),
                              '--batch', str(args.batch), '--size', str(args.size)],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        res[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    o, u = res['official'], res['ours']
    print(f'torch {torch.__version__}, {o["device"]}, {torch.get_num_threads()} threads; U-MixFormer-B0, '
          f'{args.size}x{args.size}, batch {args.batch}, median of {args.iters} steps')
    for r in (o, u):
        print(f'  {r["variant"]:8s} head  {r["ms"]:8.1f} ms/step  peak {r["peak_mb"]:7.0f} MiB  loss {r["loss"]:.4f}')
    print(f'  ours / official: x{u["ms"] / o["ms"]:.2f} time, x{u["peak_mb"] / max(o["peak_mb"], 1):.2f} memory')


if __name__ == '__main__':
    main()
