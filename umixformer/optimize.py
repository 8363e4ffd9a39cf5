"""Speed options that keep the function the model computes (in training too).

``optimize_for_inference`` switches on, for every U-MixFormer/FeedFormer head
in ``model``: fused attention (``scaled_dot_product_attention``) and the
projected-first fuse (see ``UMixFormerHead.fast_fuse``); fused attention in
the MiT encoder's spatial-reduction attention (any segmentor); optionally the
channels-last memory format (token <-> grid reshapes become views) and
``torch.compile`` of the backbone and the head. ``tests/test_optimize.py`` checks the outputs against the
plain model (max abs difference in fp32).
"""
import types
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fused_loss import fusable_heads, fused_loss_by_feat


def _fused_efficient_attention(self, x, hw_shape, identity=None):
    """mmseg's ``EfficientMultiheadAttention.forward`` (MiT's spatial-reduction
    attention) with ``nn.MultiheadAttention`` replaced by its projections around
    ``scaled_dot_product_attention``: the same function (and gradient), without
    the (N x N/R^2) attention matrix and the head-averaged weights that
    ``nn.MultiheadAttention`` materialises (need_weights defaults to True). The
    official configs' attention dropout is 0; another rate is applied as
    ``nn.MultiheadAttention`` does, in training only."""
    x_kv = x
    if self.sr_ratio > 1:
        b, _, c = x.shape
        x_kv = self.sr(x.transpose(1, 2).reshape(b, c, *hw_shape))
        x_kv = self.norm(x_kv.flatten(2).transpose(1, 2))
    identity = x if identity is None else identity
    attn = self.attn
    heads, (b, n, c) = attn.num_heads, x.shape
    w_q, w_kv = attn.in_proj_weight[:c], attn.in_proj_weight[c:]
    b_q, b_kv = attn.in_proj_bias[:c], attn.in_proj_bias[c:]
    q = F.linear(x, w_q, b_q).view(b, n, heads, c // heads).transpose(1, 2)
    k, v = F.linear(x_kv, w_kv, b_kv).view(b, -1, 2, heads, c // heads).permute(2, 0, 3, 1, 4)
    drop = attn.dropout if self.training else 0.0  # nn.MultiheadAttention's attention dropout
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop).transpose(1, 2).reshape(b, n, c)
    out = attn.out_proj(out)
    return identity + self.dropout_layer(self.proj_drop(out))


def _encoder_attentions(model: nn.Module):
    from mmseg.models.backbones.mit import EfficientMultiheadAttention
    return [m for m in model.modules() if isinstance(m, EfficientMultiheadAttention)
            and m.attn.in_proj_weight is not None and m.attn.in_proj_bias is not None]


def set_fused(model: nn.Module, fused: bool) -> nn.Module:
    """Fused attention (head and MiT encoder), the projected-first fuse and the fused
    resize + cross-entropy loss (``umixformer.fused_loss``) on or off."""
    from .models.decode_heads import UMixFormerHead
    from .models.layers import MixAttention
    for m in model.modules():
        if isinstance(m, MixAttention):
            m.fused = fused
        if isinstance(m, UMixFormerHead):
            m.fast_fuse = fused
    for m in _encoder_attentions(model):
        if fused:
            m.forward = types.MethodType(_fused_efficient_attention, m)
        else:
            m.__dict__.pop('forward', None)
    for m in fusable_heads(model):
        if fused:
            m.loss_by_feat = types.MethodType(fused_loss_by_feat, m)
        else:
            m.__dict__.pop('loss_by_feat', None)
    return model


def set_plain(model: nn.Module) -> nn.Module:
    """The reference implementation: explicit softmax(qk^T)v, concat-then-fuse."""
    return set_fused(model, False)


def faster_in_channels_last(model: nn.Module, example: torch.Tensor, runs: int = 2) -> bool:
    """Whether ``model`` runs ``example`` faster in channels-last memory format
    than in the default one, on this device (one warm-up, best of ``runs``
    forwards each). Leaves the model in the default format."""
    import time

    def best(x: torch.Tensor) -> float:
        sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
        times = []
        with torch.no_grad():
            for i in range(runs + 1):
                sync()
                t0 = time.perf_counter()
                model(x)
                sync()
                times.append(time.perf_counter() - t0)
        return min(times[1:])

    plain = best(example.contiguous())
    model.to(memory_format=torch.channels_last)
    cl = best(example.contiguous(memory_format=torch.channels_last))
    model.to(memory_format=torch.contiguous_format)
    return cl < plain


def computation(model: nn.Module) -> dict:
    """What ``model`` computes with, read off the model itself (for a record):
    fused attention in the head and in the encoder, the projected-first fuse, the fused loss.
    ``None`` where the model has no such part."""
    from .models.decode_heads import UMixFormerHead
    from .models.layers import MixAttention
    mix = [m.fused for m in model.modules() if isinstance(m, MixAttention)]
    heads = [m.fast_fuse for m in model.modules() if isinstance(m, UMixFormerHead)]
    enc = ['forward' in m.__dict__ for m in _encoder_attentions(model)]
    loss = ['loss_by_feat' in m.__dict__ for m in fusable_heads(model)]

    def state(flags):
        return None if not flags else all(flags) if all(flags) or not any(flags) else 'mixed'
    return dict(fused_head_attention=state(mix), fused_encoder_attention=state(enc), fast_fuse=state(heads),
                fused_loss=state(loss))


def optimize_for_inference(model: nn.Module, channels_last: bool = False,
                           compile: bool = False, compile_backend='inductor', fused: bool = True) -> nn.Module:
    """The same function, faster: fused attention in the encoder (MiT) and the
    head, the projected-first fuse (``fused``; else the official computation, as
    :func:`set_plain`); channels-last and ``torch.compile`` on request
    (:func:`faster_in_channels_last` says whether channels-last pays)."""
    set_fused(model, fused)
    model.eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        # Compile each part's ``forward`` in place: mmseg's inference calls
        # ``self.backbone(x)`` but ``self.decode_head.predict()``, which calls
        # ``self.forward`` directly and would bypass a compiled wrapper module.
        for name in ('backbone', 'decode_head'):
            _compile_methods(getattr(model, name, None), ('forward', ), compile_backend)
    return model


def compile_for_training(model: nn.Module, backend: str = 'inductor') -> nn.Module:
    """``torch.compile`` of the training computation, in place: the backbone's and each
    head's forward and the heads' loss (``loss_by_feat``: the full-resolution resize and
    cross-entropy, half of a CPU step). The optimizer step stays eager (mmengine's
    ``cfg.compile`` compiles the whole ``train_step``, which dynamo of torch 2.13 cannot
    trace through mmengine's parameter groups); the state dict keeps its keys."""
    heads = getattr(model, 'auxiliary_head', None)
    parts = [getattr(model, 'backbone', None), getattr(model, 'decode_head', None)]
    parts += list(heads) if isinstance(heads, nn.ModuleList) else [heads]
    for part in parts:
        _compile_methods(part, ('forward', 'loss_by_feat'), backend)
    return model


def _compile_methods(part: Optional[nn.Module], names, backend: str) -> None:
    """``torch.compile`` of each named method a module has, in place on the instance (the
    module, its state dict and who holds it stay as they are)."""
    for name in names if part is not None else ():
        if hasattr(part, name):
            setattr(part, name, torch.compile(getattr(part, name), dynamic=False, backend=backend))
