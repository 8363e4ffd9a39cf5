"""Params and GFLOPs the way the paper counts them.

Convention (paper-tables.md): mmengine's ``get_model_complexity_info`` on the
segmentor in ``mode='tensor'`` (logits at H/4; the final upsample is not
counted), eval mode, SyncBN reverted to BN, batch 1, at 512x512 for ADE20K and
2048x1024 for Cityscapes. Params are reported twice: effective (what this
implementation builds) and as published (plus the modules the official head
builds but never uses, see ``converters.official.official_unused_params``).
"""
import argparse
import os
import sys
from dataclasses import dataclass
from math import prod
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config

from .apis import build_segmentor, load_config
from umixformer_config.input_size import measuring_hw

DATASETS = ('ade20k', 'cityscapes')


@dataclass
class Complexity:
    params: int
    params_published_layout: int
    flops: int
    input_hw: Tuple[int, int]

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def params_published_layout_m(self) -> float:
        return self.params_published_layout / 1e6

    @property
    def gflops(self) -> float:
        return self.flops / 1e9


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``scaled_dot_product_attention`` counted as the two matmuls it fuses
    (q @ k^T and attn @ v), as mmengine counts the unfused form."""
    from mmengine.analysis.jit_handles import get_shape

    return _attention_macs(*(get_shape(x) for x in inputs[:3]))


def _attention_macs(q: Sequence[int], k: Sequence[int], v: Sequence[int]) -> int:
    # q @ k^T and attn @ v, from the shapes of q, k, v
    return prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def count_flops_jit(model: torch.nn.Module, input_hw: Sequence[int]) -> int:
    """mmengine's FlopAnalyzer (what ``get_model_complexity_info`` uses) on a
    real (1, 3, H, W) input, with fused attention counted like its plain form.
    The reference :func:`count_flops` is tested against; it runs the model, so
    it takes seconds to minutes at the paper's sizes."""
    from mmengine.analysis import FlopAnalyzer

    model.eval()
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, torch.randn(1, 3, *input_hw))
        analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analyzer.total())


def _norm_flops(affine_index: int):
    # mmengine: 5 per element with an affine transform, 4 without ("a rough estimate")
    return lambda args, out: prod(args[0].shape) * (5 if args[affine_index] is not None else 4)


def _bn_eval_flops(args, out) -> int:
    return prod(args[0].shape) * (2 if args[1] is not None else 1)


def _conv_flops(args, out) -> int:
    x, w, transposed = args[0], args[1], args[6]
    return x.shape[0] * prod(w.shape) * prod((x.shape if transposed else out.shape)[2:])


def _sdpa_flops(args, out) -> int:
    return _attention_macs(*(t.shape for t in args[:3]))


def _dispatch_handles() -> dict:
    """mmengine's jit handles restated for the operators they reach at the
    dispatcher: ``linear``/``matmul``/``einsum`` arrive as ``mm``/``addmm``/
    ``bmm`` (same multiply-adds), ``layer_norm``/``batch_norm``/``group_norm``
    as their ``native_*`` kernels; every other operator counts 0, as there."""
    aten = torch.ops.aten
    return {
        aten.mm: lambda a, o: prod(a[0].shape) * a[1].shape[-1],
        aten.addmm: lambda a, o: prod(a[1].shape) * a[2].shape[-1],
        aten.bmm: lambda a, o: prod(a[0].shape) * a[1].shape[-1],
        aten.convolution: _conv_flops,
        aten.native_layer_norm: _norm_flops(2),
        aten.native_group_norm: _norm_flops(1),
        aten._native_batch_norm_legit_no_training: _bn_eval_flops,
        aten.native_batch_norm: lambda a, o: _norm_flops(1)(a, o) if a[5] else _bn_eval_flops(a, o),
        aten.upsample_bilinear2d: lambda a, o: 4 * prod(o.shape),
        aten.upsample_nearest2d: lambda a, o: prod(o.shape),
        aten._adaptive_avg_pool2d: lambda a, o: prod(a[0].shape),
        aten.grid_sampler_2d: lambda a, o: 4 * prod(a[0].shape),
        # fused attention as its two matmuls, like sdpa_flop_jit (reached on real tensors)
        aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops,
    }


def _meta_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with its parameters and buffers on the meta device, made without
    copying their data (``deepcopy(model).to('meta')`` copies every weight first: 0.46 vs
    0.08 s for MiT-B5). Shared tensors stay shared (deepcopy's memo is by identity)."""
    import copy
    import itertools
    memo = {}
    for t in itertools.chain(model.parameters(), model.buffers()):
        empty = torch.empty_like(t, device='meta')
        memo[id(t)] = torch.nn.Parameter(empty, t.requires_grad) if isinstance(t, torch.nn.Parameter) else empty
    return copy.deepcopy(model, memo)


def count_flops(model: torch.nn.Module, input_hw: Sequence[int]) -> int:
    """FLOPs of ``model`` on a (1, 3, H, W) input, counted as mmengine's
    FlopAnalyzer counts them (the paper's counter, :func:`count_flops_jit`), on
    meta tensors: shapes only, so the paper's sizes cost a fraction of a second.
    ``tests/test_complexity.py`` checks the two agree on every config."""
    from torch.utils._python_dispatch import TorchDispatchMode

    handles = _dispatch_handles()

    class _Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            handle = handles.get(func.overloadpacket)
            if handle is not None:
                self.total += int(handle(args, out[0] if isinstance(out, (tuple, list)) else out))
            return out

    meta = _meta_copy(model) if any(p.device.type != 'meta' for p in model.parameters()) else model
    meta.eval()
    try:
        with torch.no_grad(), _Count() as counter:
            meta(torch.empty(1, 3, *input_hw, device='meta'))
    except (RuntimeError, NotImplementedError, TypeError) as err:
        # a model that needs data (``.item()``, data-dependent shapes) or an operator
        # without a meta kernel: the paper's counter on real tensors, slower, same count
        if meta is model:
            raise
        import warnings
        warnings.warn(f'complexity: the meta-tensor count failed ({type(err).__name__}: {err}); counting with '
                      'FlopAnalyzer on real tensors')
        return count_flops_jit(model, input_hw)
    return counter.total


def measure(model: torch.nn.Module, input_hw: Sequence[int]) -> Complexity:
    """Counts params and FLOPs of ``model`` (tensor mode) on one image."""
    from .converters.official import official_unused_params

    params = sum(p.numel() for p in model.parameters())
    return Complexity(
        params=params,
        params_published_layout=params + official_unused_params(model),
        flops=count_flops(model, input_hw),
        input_hw=tuple(input_hw))


def measure_config(config: Union[str, Config], dataset: str) -> Complexity:
    """Params and GFLOPs of a config at the paper's measuring input (``input_size.measuring_hw``)."""
    cfg = load_config(config)
    return measure(build_segmentor(cfg), measuring_hw(dataset, cfg))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='umixformer-complexity',
        description='Params and GFLOPs of model configs, the paper\'s way (see module doc).')
    parser.add_argument('configs', nargs='+', help='mmseg config files')
    parser.add_argument('--dataset', choices=DATASETS, default=None,
                        help='input size of this dataset (default: from the config name)')
    args = parser.parse_args(argv)
    for path in args.configs:
        dataset = args.dataset or ('cityscapes' if 'cityscapes' in os.path.basename(path) else 'ade20k')
        try:
            c = measure_config(path, dataset)
        except (FileNotFoundError, ValueError) as err:
            print(f'umixformer-complexity: error: {err}', file=sys.stderr)
            return 2
        print(f'{os.path.basename(path)}: {c.params_m:.2f} M params '
              f'({c.params_published_layout_m:.2f} M in the official layout), '
              f'{c.gflops:.2f} GFLOPs at {c.input_hw[1]}x{c.input_hw[0]}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
