"""Forward latency (tensor mode, batch 1, fp32, this machine, one process) of
U-MixFormer-B0 as the official code computes it against this suite's
``optimize_for_inference``, same weights, and SegFormer-B0 both ways.

"official": the official head's computation (explicit softmax(qk^T)v,
concat-then-fuse: ``set_plain``) on mmseg's MiT-B0 with ``nn.MultiheadAttention``;
its head weights are a random *official-layout* state dict (the keys and shapes
of ``tests/data/official-checkpoint-keys.txt``: APFormerHead2 at 512x512,
APFormerHeadCity at 2048x1024) loaded through the converter. "optimized": the same weights through ``optimize_for_inference``
(fused attention in encoder and head, projected-first fuse), channels-last when
``faster_in_channels_last`` says it pays. Prints the ratio and the max abs
difference of the logits.

    .venv/bin/python tools/bench_forward.py [--runs 5] [--sizes 512,2048]
"""
import argparse
import copy
import os
import statistics
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = os.path.join(ROOT, 'experiments', 'configs')
KEYS = os.path.join(ROOT, 'tests', 'data', 'official-checkpoint-keys.txt')
MODELS = {
    '512': ('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
            'segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py', (512, 512), 'APFormerHead2'),
    '2048': ('umixformer/umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py',
             'segformer/segformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', (1024, 2048), 'APFormerHeadCity'),
}


def time_forward(model, x, runs):
    with torch.no_grad():
        model(x)  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            out = model(x)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def load_official_layout_head(model, section: str) -> None:
    """Random weights in an official head layout (a section of the keys file:
    APFormerHead2 or APFormerHeadCity), converted and loaded."""
    from umixformer.converters import convert_official_state_dict
    gen = torch.Generator().manual_seed(0)
    layouts, current = {}, None
    for line in open(KEYS):
        if line.startswith('#'):
            current = layouts.setdefault(line.lstrip('# ').split(' ')[0], {})
        elif line.strip():
            key, shape = line.rstrip('\n').split('\t')
            current[key] = tuple(int(v) for v in shape.strip('()').split(',') if v.strip())
    official = {}
    for k, shape in layouts[section].items():
        if k.endswith('running_var'):  # a valid BN: positive variances
            official[k] = torch.rand(shape, generator=gen) + 0.5
        elif k.endswith('num_batches_tracked'):
            official[k] = torch.tensor(0)
        else:
            official[k] = torch.randn(shape, generator=gen) * 0.05
    state = convert_official_state_dict(official)
    head = {k[len('decode_head.'):]: v for k, v in state.items() if k.startswith('decode_head.')}
    model.decode_head.load_state_dict(head, strict=True)


def optimized(model, x):
    from umixformer.optimize import faster_in_channels_last, optimize_for_inference
    model = optimize_for_inference(model)
    cl = faster_in_channels_last(model, x)
    model = optimize_for_inference(model, channels_last=cl)
    return model, (x.contiguous(memory_format=torch.channels_last) if cl else x), cl


def main():
    from umixformer.complexity import build_segmentor
    from umixformer.optimize import set_plain
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=5)
    p.add_argument('--sizes', default='512,2048', help='512 (ADE20K 512x512) and/or 2048 (Cityscapes 2048x1024)')
    args = p.parse_args()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.runs} runs')
    for size in args.sizes.split(','):
        umix, seg, hw, layout = MODELS[size]
        torch.manual_seed(0)
        x = torch.randn(1, 3, *hw)
        official = set_plain(build_segmentor(os.path.join(CFG, umix)))
        load_official_layout_head(official, layout)
        ours, xo, cl = optimized(copy.deepcopy(official), x)
        t_off, y_off = time_forward(official, x, args.runs)
        t_ours, y_ours = time_forward(ours, xo, args.runs)
        sf = build_segmentor(os.path.join(CFG, seg))
        t_sf, y_sf = time_forward(sf, x, args.runs)
        sf_opt, xs, cl_sf = optimized(copy.deepcopy(sf), x)
        t_sfo, y_sfo = time_forward(sf_opt, xs, args.runs)
        w = f'{hw[1]}x{hw[0]}'
        print(f'{w}  U-MixFormer-B0 official       {t_off:8.1f} ms')
        print(f'{w}  U-MixFormer-B0 optimized{" +CL" if cl else "    "}   {t_ours:8.1f} ms  '
              f'x{t_ours / t_off:.2f} official  max|diff| {(y_ours - y_off).abs().max().item():.1e}')
        print(f'{w}  SegFormer-B0 (mmseg)          {t_sf:8.1f} ms')
        print(f'{w}  SegFormer-B0 optimized{" +CL" if cl_sf else "    "}     {t_sfo:8.1f} ms  '
              f'x{t_sfo / t_sf:.2f} mmseg  max|diff| {(y_sfo - y_sf).abs().max().item():.1e}')
        print(f'{w}  U-MixFormer-B0 optimized / SegFormer-B0 optimized: x{t_ours / t_sfo:.2f}')


if __name__ == '__main__':
    main()
