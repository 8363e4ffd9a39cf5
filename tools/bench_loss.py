"""The decode head's loss alone: mmseg's ``loss_by_feat`` (resize of the logits to the
label's size, cross-entropy, ``acc_seg``) against the fused form the suite trains with
(``umixformer.fused_loss``), forward and backward, the U-MixFormer-B0 ADE20K head
(150 classes, logits at 1/4 of a 512x512 crop, batch 2), median of a few runs.

    .venv/bin/python tools/bench_loss.py [--runs 7] [--batch 2] [--size 512]
"""
import argparse
import copy
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from tools.bench_train_step import CONFIG  # noqa: E402

from experiments.planning.configs import load_base_config  # noqa: E402
from umixformer.complexity import build_segmentor  # noqa: E402
from umixformer.optimize import set_fused  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--runs', type=int, default=7)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--size', type=int, default=512)
    args = p.parse_args()
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    official = build_segmentor(load_base_config(CONFIG), eval_mode=False).decode_head.to(dev)
    fused = set_fused(copy.deepcopy(official), True)
    c, s = official.num_classes, args.size
    torch.manual_seed(0)
    logits = 3 * torch.randn(args.batch, c, s // 4, s // 4, device=dev)
    samples = []
    for _ in range(args.batch):
        sample = SegDataSample(metainfo=dict(img_shape=(s, s)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, c, (1, s, s), device=dev))
        samples.append(sample)
    sync = torch.cuda.synchronize if dev == 'cuda' else (lambda: None)
    print(f'torch {torch.__version__}, {dev}, {torch.get_num_threads()} threads; {c} classes, '
          f'{tuple(logits.shape)} -> {s}x{s}, median of {args.runs}')
    base = None
    for name, head in (('official', official), ('fused', fused)):
        times = []
        for _ in range(args.runs + 1):
            x = logits.clone().requires_grad_()
            sync()
            t0 = time.perf_counter()
            head.loss_by_feat(x, samples)['loss_ce'].backward()
            sync()
            times.append(time.perf_counter() - t0)
        ms = 1000 * sorted(times[1:])[args.runs // 2]
        base = base or ms
        print(f'  {name:10s} {ms:8.1f} ms (x{ms / base:.2f})')


if __name__ == '__main__':
    main()
