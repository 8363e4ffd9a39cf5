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


# --- official ablation heads (official-runs.md 3.2-3.6), ADE20K attention --------------

def _cat_key(sd, prefix: str, sources: Sequence[Tensor], ratios: Sequence[int]) -> Tensor:
    """CatKey: sources with ratio > 1 are pooled (ceil) and conv'd by sr_list.<i>,
    i counting the pooled sources only; ratio 1 passes unchanged."""
    return _mix(sd, prefix, sources, ratios)


def _fuse_pred(sd, maps: Sequence[Tensor], size) -> Tensor:
    cat = torch.cat([F.interpolate(m, size=size, mode='bilinear', align_corners=False)
                     if tuple(m.shape[2:]) != tuple(size) else m for m in maps], dim=1)
    f = F.conv2d(cat, sd['linear_fuse.conv.weight'])
    f = F.batch_norm(f, sd['linear_fuse.bn.running_mean'], sd['linear_fuse.bn.running_var'],
                     sd['linear_fuse.bn.weight'], sd['linear_fuse.bn.bias'], False, 0., 1e-5)
    return F.conv2d(F.relu(f), sd['linear_pred.weight'], sd['linear_pred.bias'])


def official_ablation_logits(kind: str, sd: Dict[str, Tensor], feats: List[Tensor],
                             heads: Sequence[int] = (8, 5, 2, 1)) -> Tensor:
    """Logits of the official ablation heads of official-runs.md section 3 for
    encoder features [E1, E2, E3, E4] (keys without ``decode_head.``)."""
    e = {i + 1: f for i, f in enumerate(feats)}
    d: Dict[int, Tensor] = {}

    def block(stage: int, y: Tensor, n: int) -> None:
        q = e[stage]
        B, C, H, W = q.shape
        d[stage] = _grid(_block(sd, f'attn_c{stage}', _tokens(q), (H, W), y, heads[n], False), (H, W))

    if kind == 'APFormerHead':  # 3.2: one shared KV from encoder features; D1 discarded
        y = _cat_key(sd, 'cat_key', [e[4], e[3], e[2], e[1]], (1, 2, 4, 8))
        for n, stage in enumerate((4, 3, 2, 1)):
            block(stage, y, n)
        return _fuse_pred(sd, [d[4], d[3], d[2], e[1]], e[1].shape[2:])
    if kind == 'APFormerHeadSingle':  # 3.3
        y4 = _tokens(_conv1x1(e[4], sd, 'cat_key1.sr_list'))
        block(4, y4, 0)
        block(3, _tokens(d[4]), 1)  # cat_key2's output is overwritten by the raw D4
        y2 = _tokens(_conv1x1(F.avg_pool2d(d[3], 2, 2, ceil_mode=True), sd, 'cat_key3.sr_list'))
        block(2, y2, 2)
        y1 = _tokens(_conv1x1(F.avg_pool2d(d[2], 4, 4, ceil_mode=True), sd, 'cat_key4.sr_list'))
        block(1, y1, 3)
        return _fuse_pred(sd, [d[4], d[3], d[2], d[1]], e[1].shape[2:])
    if kind == 'APFormerHead2_rebuttal':  # 3.4: adjacent stages, U-Net chaining
        block(4, _cat_key(sd, 'cat_key1', [e[4], e[3]], (1, 2)), 0)
        block(3, _cat_key(sd, 'cat_key2', [d[4], e[3], e[2]], (1, 2, 4)), 1)
        block(2, _cat_key(sd, 'cat_key3', [d[3], e[2], e[1]], (2, 4, 8)), 2)
        block(1, _cat_key(sd, 'cat_key4', [d[2], e[1]], (4, 8)), 3)
        return _fuse_pred(sd, [d[4], d[3], d[2], d[1]], e[1].shape[2:])
    if kind == 'APFormerHeadMulti@fedaa81':  # 3.6: the other stages, parallel
        block(4, _cat_key(sd, 'cat_key1', [e[3], e[2], e[1]], (2, 4, 8)), 0)
        block(3, _cat_key(sd, 'cat_key2', [e[4], e[2], e[1]], (1, 4, 8)), 1)
        block(2, _cat_key(sd, 'cat_key3', [e[4], e[3], e[1]], (1, 2, 8)), 2)
        block(1, _cat_key(sd, 'cat_key4', [e[4], e[3], e[2]], (1, 2, 4)), 3)
        return _fuse_pred(sd, [d[4], d[3], d[2], d[1]], e[1].shape[2:])
    raise KeyError(kind)


# --- the original FeedFormer head (official-runs.md 4.1, jhshim1995/FeedFormer@627644c) ---

def feedformer_logits(sd: Dict[str, Tensor], feats: List[Tensor], city: bool,
                      heads: Sequence[int] = (8, 5, 2)) -> Tensor:
    """Original FeedFormer (keys as the original: attn_c{4,3,2}_c1.*, linear_fuse,
    linear_pred). Pre-norm residual blocks; E4, E3, E2 attend to E1 pooled by
    r = 8, 4, 2 (2r on Cityscapes, whose query is pooled by 2), floor pooling."""
    e = {i + 1: f for i, f in enumerate(feats)}
    out = {}
    for n, (stage, r) in enumerate(((4, 8), (3, 4), (2, 2))):
        p = f'attn_c{stage}_c1'
        q_grid = e[stage]
        B, C, H, W = q_grid.shape
        x = _tokens(q_grid)
        xn = _ln(x, sd, p + '.norm1')
        yn = _grid(_ln(_tokens(e[1]), sd, p + '.norm2'), e[1].shape[2:])
        a = p + '.attn'
        if city:
            g = _conv1x1(F.avg_pool2d(_grid(xn, (H, W)), 2, 2), sd, a + '.sr1')
            qh, qw = g.shape[2:]
            xq = F.gelu(_ln(_tokens(g), sd, a + '.norm1'))
            y = _conv1x1(F.avg_pool2d(yn, 2 * r, 2 * r), sd, a + '.sr2')
            yk = F.gelu(_ln(_tokens(y), sd, a + '.norm2'))
        else:
            qh, qw, xq = H, W, xn
            y = _conv1x1(F.avg_pool2d(yn, r, r), sd, a + '.sr')
            yk = F.gelu(_ln(_tokens(y), sd, a + '.norm'))
        q = xq @ sd[a + '.q.weight'].t()
        kv = yk @ sd[a + '.kv.weight'].t()
        k, v = kv[..., :C], kv[..., C:]
        h, dh = heads[n], C // heads[n]
        q, k, v = (t.reshape(B, -1, h, dh).transpose(1, 2) for t in (q, k, v))
        o = (torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(dh), -1) @ v).transpose(1, 2).reshape(B, -1, C)
        o = o @ sd[a + '.proj.weight'].t() + sd[a + '.proj.bias']
        if city:
            o = _tokens(F.interpolate(_grid(o, (qh, qw)), size=(H, W), mode='bilinear', align_corners=False))
        x = x + o
        hdn = _ln(x, sd, p + '.norm3') @ sd[p + '.mlp.fc1.weight'].t() + sd[p + '.mlp.fc1.bias']
        hdn = F.conv2d(_grid(hdn, (H, W)), sd[p + '.mlp.dwconv.dwconv.weight'], sd[p + '.mlp.dwconv.dwconv.bias'],
                       padding=1, groups=hdn.shape[-1])
        x = x + F.gelu(_tokens(hdn)) @ sd[p + '.mlp.fc2.weight'].t() + sd[p + '.mlp.fc2.bias']
        out[stage] = _grid(x, (H, W))
    return _fuse_pred(sd, [out[4], out[3], out[2], e[1]], e[1].shape[2:])
