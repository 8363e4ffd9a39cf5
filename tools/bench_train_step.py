"""One training step of U-MixFormer-B0 (ADE20K config, 512x512, batch 2:
forward, loss, backward, the config's AdamW step with its param groups), the
model as the official code computes it (``set_plain``: explicit softmax(qk^T)v in
the head, mmseg's ``nn.MultiheadAttention`` in the encoder, concat-then-fuse) against
the suite's training computation (``set_fused``: fused attention in both, the
projected-first fuse, the fused resize + cross-entropy loss; AdamW stepped per set of equal
group settings, ``GroupedAdamW``), same weights. Each variant runs in its own process so its
peak memory is its own (CPU: peak RSS above the built model; GPU: peak
allocated).

    .venv/bin/python tools/bench_train_step.py [--iters 5] [--batch 2] [--compile inductor]
"""
import argparse
import json
import os
import resource
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'experiments', 'configs', 'umixformer',
                      'umixformer_mit-b0_1xb16-160k_ade20k-512x512.py')


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_variant(variant: str, iters: int, batch: int, size: int, config: str = CONFIG, compile: str = '') -> dict:
    """``iters`` timed training steps (after one warm-up) of ``config``'s model, its
    optimizer and loss, on a random batch at ``size`` (the step ``run-experiment calibrate``
    times: ``experiments.engine.compute.calibrate``); the head ``official`` (set_plain) or ``ours``
    (as it trains). Returns median ms/step, peak memory, the last loss."""
    from experiments.engine.compute.calibrate import timed, train_step
    from experiments.planning.configs import load_base_config
    from umixformer.complexity import build_segmentor
    from umixformer.optimize import set_fused, set_plain
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg = load_base_config(config)
    torch.manual_seed(0)
    model = build_segmentor(cfg, eval_mode=False).train().to(dev)
    if variant == 'official':
        set_plain(model)
    else:  # as the suite trains (experiments/engine/compute/stages.py)
        set_fused(model, True)
    if compile:  # as --train-compile trains (the first steps compile: more warm-up)
        cfg.train_compile = compile
    step = train_step(model, cfg, batch, (size, size), grouped_step=variant != 'official')
    base = _rss_mb()
    if dev == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    losses = []
    times = timed(lambda: losses.append(step()), iters, 3 if compile else 1, dev == 'cuda')
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev == 'cuda' else _rss_mb() - base
    return {'variant': variant + (f'+{compile}' if compile else ''), 'ms': 1000 * sorted(times)[len(times) // 2], 'peak_mb': peak, 'loss': losses[-1],
            'device': dev}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--size', type=int, default=512)
    p.add_argument('--compile', default='', help='also time ours under --train-compile with this backend '
                   '(e.g. inductor)')
    p.add_argument('--variant', choices=['official', 'ours'], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.iters, args.batch, args.size, compile=args.compile)))
        return
    runs = [('official', ''), ('ours', '')] + ([('ours', args.compile)] if args.compile else [])
    res = []
    for variant, backend in runs:
        out = subprocess.run([sys.executable, __file__, '--variant', variant, '--iters', str(args.iters),
                              '--batch', str(args.batch), '--size', str(args.size), '--compile', backend],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        res.append(json.loads(out.stdout.strip().splitlines()[-1]))
    o = res[0]
    print(f'torch {torch.__version__}, {o["device"]}, {torch.get_num_threads()} threads; U-MixFormer-B0, '
          f'{args.size}x{args.size}, batch {args.batch}, median of {args.iters} steps')
    for r in res:
        print(f'  {r["variant"]:18s} {r["ms"]:8.1f} ms/step (x{r["ms"] / o["ms"]:.2f})  peak {r["peak_mb"]:7.0f} MiB '
              f'(x{r["peak_mb"] / max(o["peak_mb"], 1):.2f})  loss {r["loss"]:.4f}')


if __name__ == '__main__':
    main()
