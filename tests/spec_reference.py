"""An independent, functional reading of architecture.md on the *official*
state-dict layout (APFormerHead2 / APFormerHeadCity), for equality tests.

It shares no code with umixformer/: every step is written out from the spec.
Eval-mode semantics (no dropout, no drop path, BN with running statistics).
"""
import math
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def _ln(x: Tensor, sd: Dict[str, Tensor], name: str) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], sd[name + '.weight'], sd[name + '.bias'])


def _conv1x1(x: Tensor, sd: Dict[str, Tensor], name: str) -> Tensor:
    return F.conv2d(x, sd[name + '.weight'], sd.get(name + '.bias'))


def _tokens(grid: Tensor) -> Tensor:
    return grid.flatten(2).transpose(1, 2)


def _grid(tokens: Tensor, hw) -> Tensor:
    B, N, C = tokens.shape
    return tokens.transpose(1, 2).reshape(B, C, *hw)


def _mix(sd, prefix: str, sources: Sequence[Tensor], ratios: Sequence[int]) -> Tensor:
    pooled, conv_idx = [], 0
    for src, r in zip(sources, ratios):
        if r > 1:
            p = F.avg_pool2d(src, r, r, ceil_mode=True)
            pooled.append(_conv1x1(p, sd, f'{prefix}.sr_list.{conv_idx}'))
            conv_idx += 1
        else:
            pooled.append(src)
    return _tokens(torch.cat(pooled, dim=1))


def _attention(sd, p: str, x: Tensor, hw, y: Tensor, heads: int, city: bool) -> Tensor:
    B, N, C = x.shape
    H, W = hw
    if city:
        g = F.avg_pool2d(_grid(x, hw), 2, 2, ceil_mode=True)
        g = _conv1x1(g, sd, p + '.sr1')
        qh, qw = g.shape[2:]
        xq = F.gelu(_ln(_tokens(g), sd, p + '.norm1'))
        yk = F.gelu(_ln(y, sd, p + '.norm2'))
    else:
        xq, yk = x, F.gelu(y)
    q = xq @ sd[p + '.q.weight'].t()
    kv = yk @ sd[p + '.kv.weight'].t()
    k, v = kv[..., :C], kv[..., C:]
    d = C // heads
    q = q.reshape(B, -1, heads, d).transpose(1, 2)
    k = k.reshape(B, -1, heads, d).transpose(1, 2)
    v = v.reshape(B, -1, heads, d).transpose(1, 2)
    a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
    out = (a @ v).transpose(1, 2).reshape(B, -1, C)
    out = out @ sd[p + '.proj.weight'].t() + sd[p + '.proj.bias']
    if city:
        out = F.interpolate(_grid(out, (qh, qw)), size=(H, W), mode='bilinear', align_corners=False)
        out = _tokens(out)
    return out


def _block(sd, p: str, x: Tensor, hw, y: Tensor, heads: int, city: bool) -> Tensor:
    x = _ln(x, sd, p + '.norm1')
    y = _ln(y, sd, p + '.norm2')
    x = x + _attention(sd, p + '.attn', x, hw, y, heads, city)
    x = _ln(x, sd, p + '.norm3')
    h = x @ sd[p + '.mlp.fc1.weight'].t() + sd[p + '.mlp.fc1.bias']
    C4 = h.shape[-1]
    h = F.conv2d(_grid(h, hw), sd[p + '.mlp.dwconv.dwconv.weight'],
                 sd[p + '.mlp.dwconv.dwconv.bias'], padding=1, groups=C4)
    h = F.gelu(_tokens(h))
    return x + h @ sd[p + '.mlp.fc2.weight'].t() + sd[p + '.mlp.fc2.bias']


def official_head_logits(sd: Dict[str, Tensor], feats: List[Tensor],
                         heads: Sequence[int] = (8, 5, 2, 1)) -> Tensor:
    """Logits at stride 4 of an official U-MixFormer head (keys without the
    ``decode_head.`` prefix) for encoder features ``[E1, E2, E3, E4]``."""
    city = 'attn_c4.attn.sr1.weight' in sd
    ratios = (2, 4, 8, 16) if city else (1, 2, 4, 8)
    e = {i + 1: f for i, f in enumerate(feats)}
    d = {}
    for n, stage in enumerate((4, 3, 2, 1)):
        srcs = [d.get(s, e[s]) for s in (4, 3, 2, 1)]
        y = _mix(sd, f'cat_key{n + 1}', srcs, ratios)
        q = e[stage]
        B, C, H, W = q.shape
        x = _block(sd, f'attn_c{stage}', _tokens(q), (H, W), y, heads[n], city)
        d[stage] = _grid(x, (H, W))
    size = e[1].shape[2:]
    cat = torch.cat([F.interpolate(d[s], size=size, mode='bilinear', align_corners=False)
                     for s in (4, 3, 2)] + [d[1]], dim=1)
    f = F.conv2d(cat, sd['linear_fuse.conv.weight'])
    f = F.batch_norm(f, sd['linear_fuse.bn.running_mean'], sd['linear_fuse.bn.running_var'],
                     sd['linear_fuse.bn.weight'], sd['linear_fuse.bn.bias'], False, 0., 1e-5)
    f = F.relu(f)
    return F.conv2d(f, sd['linear_pred.weight'], sd['linear_pred.bias'])


def read_official_layout(path: str) -> Dict[str, Dict[str, tuple]]:
    """Parses official-checkpoint-keys.txt into {section title: {key: shape}}."""
    sections, current = {}, None
    for line in open(path):
        line = line.rstrip('\n')
        if line.startswith('#'):
            current = sections.setdefault(line.lstrip('# ').split(' ')[0], {})
        elif line.strip():
            key, shape = line.split('\t')
            current[key] = tuple(int(s) for s in shape.strip('()').split(',') if s.strip())
    return sections
