"""The official U-MixFormer decode heads, each as a configuration of
:class:`UMixFormerHead` (official-runs.md, sections 3.1-3.6).

One table (``OFFICIAL_HEADS``) serves the converter (which official key goes
where, which keys are dead), the identification of a checkpoint's head from
its keys and shapes, and the parameter count "as published" (the dead modules
the official layout carries).
"""
from umixformer_config.errors import UmixformerError
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..models.decode_heads.umixformer_head import STAGES, pool_ratio, resolve_kv_sources


@dataclass(frozen=True)
class OfficialHead:
    """An official head class and the UMixFormerHead arguments computing its function.

    Attributes:
        name: The official class name (``type`` in the official configs).
        head_kwargs: UMixFormerHead arguments (widths and classes come from
            the checkpoint or config).
        dead: Official key patterns (regex on the part after ``decode_head.``)
            that the official forward never uses; dropped by the converter.
        description: What the head is, for messages and docs.
        config: The official config that uses it, or where it came from.
    """
    name: str
    head_kwargs: Mapping[str, Any]
    dead: Tuple[str, ...]
    description: str
    config: str = ''
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def decoded_stages(self) -> Tuple[int, ...]:
        return tuple(self.head_kwargs.get('decoded_stages', STAGES))

    @property
    def kv_sources(self) -> Tuple[Tuple[int, ...], ...]:
        return resolve_kv_sources(self.head_kwargs.get('attention_type', 'mix'),
                                  self.head_kwargs.get('kv_sources', 'all'), self.decoded_stages)

    @property
    def ade_attention(self) -> bool:
        """ADE20K-style attention: a dead ``sr`` conv and ``norm`` per block."""
        return self.head_kwargs.get('query_pool', 1) == 1


_ADE = dict(kv_stride=32, query_pool=1, kv_norm=False)
_ADE_DEAD = (r'attn_c[1-4]\.attn\.(sr|norm)\.(weight|bias)', r'conv_seg\.(weight|bias)')
OFFICIAL_HEADS: Dict[str, OfficialHead] = {h.name: h for h in (
    OfficialHead('APFormerHead2', dict(_ADE, kv_sources='all', unet=True), _ADE_DEAD,
                 'U-MixFormer, ADE20K head', 'configs/umixformer/*_ade20k-*.py'),
    OfficialHead('APFormerHeadCity', dict(kv_stride=64, query_pool=2, kv_norm=True, kv_sources='all', unet=True),
                 (r'attn_c[1-4]\.attn\.sr2\.(weight|bias)', r'conv_seg\.(weight|bias)'),
                 'U-MixFormer, Cityscapes head', 'configs/umixformer/*_cityscapes-*.py'),
    OfficialHead('APFormerHeadMulti', dict(_ADE, kv_sources='all', unet=True), _ADE_DEAD,
                 'U-MixFormer-dagger (stage-3 taps join every key/value set)',
                 'configs/umixformer/umixformer_mit-b{4,5}-multi_*.py'),
    OfficialHead('APFormerHead', dict(_ADE, kv_sources='all', unet=False, shared_kv=True, decoded_stages=(4, 3, 2)),
                 _ADE_DEAD + (r'attn_c1\..*', ),
                 'parallel decoder as run: one shared key/value set, D1 computed and discarded, E1 fused',
                 'no config at HEAD (2e7e43e-26ff82b)'),
    OfficialHead('APFormerHeadSingle', dict(_ADE, kv_sources='single', unet=True,
                                            kv_unpooled_conv=(True, False, False, False)),
                 _ADE_DEAD + (r'cat_key2\..*', ),
                 'single previous-stage key/value (stage 3 attends to the raw D4)', 'no config at HEAD (fedaa81)'),
    OfficialHead('APFormerHead2_rebuttal', dict(_ADE, kv_sources='adjacent', unet=True), _ADE_DEAD,
                 'adjacent stages only', 'configs/umixformer/umixformer_mit-b0_8xb2-160k_ade20k-512x512_rebuttal.py'),
    OfficialHead('APFormerHeadMulti@fedaa81', dict(_ADE, kv_sources='others', unet=False), _ADE_DEAD,
                 'cross-attention to the other stages, parallel (the class APFormerHeadMulti between '
                 'fedaa81 and f3f7a1a)', 'configs/remixformer/test.py @ fedaa81'),
)}


class UnknownLayoutError(UmixformerError, ValueError):
    """A checkpoint's decode head matches no known official layout."""


def _width(sd: Mapping[str, Any], key: str) -> Optional[int]:
    t = sd.get(key)
    return int(t.shape[0]) if t is not None else None


def identify(head_sd: Mapping[str, Any]) -> Tuple[OfficialHead, Dict[str, Any]]:
    """The official head of a state dict (keys without ``decode_head.``), and
    the widths read from it: ``in_channels`` (taps appended), ``channels``
    (fuse width), ``num_classes``.

    Raises:
        UnknownLayoutError: naming what does not fit.
    """
    widths = [_width(head_sd, f'attn_c{i}.norm1.weight') for i in (1, 2, 3, 4)]
    if None in widths:
        missing = [f'attn_c{i}.norm1.weight' for i, w in zip((1, 2, 3, 4), widths) if w is None]
        raise UnknownLayoutError(f'no official U-MixFormer decoder blocks: missing {missing}')
    c1, c2, c3, c4 = widths
    total = sum(widths)
    dim2 = _width(head_sd, 'attn_c4.norm2.weight')
    n_convs = len([k for k in head_sd if k.startswith('cat_key1.sr_list.') and k.endswith('.weight')])
    taps = 0
    if 'cat_key.sr_list.0.weight' in head_sd:
        kind = 'APFormerHead'
    elif 'cat_key1.sr_list.weight' in head_sd:
        kind = 'APFormerHeadSingle'
    elif 'attn_c4.attn.sr1.weight' in head_sd:
        kind = 'APFormerHeadCity'
    elif dim2 == total and n_convs == 3:
        kind = 'APFormerHead2'
    elif dim2 is not None and n_convs > 3 and dim2 == total + (n_convs - 3) * c3:
        kind, taps = 'APFormerHeadMulti', n_convs - 3
    elif dim2 == c4 + c3:
        kind = 'APFormerHead2_rebuttal'
    elif dim2 == total - c4:
        kind = 'APFormerHeadMulti@fedaa81'
    else:
        raise UnknownLayoutError(
            f'decode head layout not known: stage widths {widths}, attn_c4 key/value width {dim2}, '
            f'{n_convs} cat_key1 convs; known official heads: {", ".join(OFFICIAL_HEADS)}')
    fuse = head_sd.get('linear_fuse.conv.weight')
    pred = head_sd.get('linear_pred.weight')
    if fuse is None or pred is None:
        raise UnknownLayoutError('no linear_fuse.conv.weight / linear_pred.weight: not an official head')
    info = dict(in_channels=[c1, c2, c3, c4] + [c3] * taps, channels=int(fuse.shape[0]),
                num_classes=int(pred.shape[0]))
    return OFFICIAL_HEADS[kind], info


def conv_positions(head: OfficialHead, num_taps: int) -> List[List[int]]:
    """For each of our key/value pools, the source positions that have a 1x1
    conv, in order: the official ``sr_list`` holds exactly these convs."""
    kw = head.head_kwargs
    strides = kw.get('kv_stride', 32)
    stages = head.decoded_stages
    strides = [strides] * len(stages) if isinstance(strides, int) else list(strides)
    unpooled = kw.get('kv_unpooled_conv', False)
    unpooled = [unpooled] * len(stages) if isinstance(unpooled, bool) else list(unpooled)
    out = []
    for sources, stride, unp in zip(head.kv_sources, strides, unpooled):
        ratios = [pool_ratio(stride, s) for s in sources] + [pool_ratio(stride, 3)] * num_taps
        out.append([i for i, r in enumerate(ratios) if r > 1 or unp])
        if kw.get('shared_kv'):
            break
    return out


def match_head(module: Any) -> Optional[OfficialHead]:
    """The official head whose function a built UMixFormerHead computes, or None."""
    from ..models.decode_heads import FeedFormerHead, UMixFormerHead
    if not isinstance(module, UMixFormerHead) or isinstance(module, FeedFormerHead):
        return None
    for head in OFFICIAL_HEADS.values():
        kw = head.head_kwargs
        unp = kw.get('kv_unpooled_conv', False)
        unp = (unp, ) * len(head.decoded_stages) if isinstance(unp, bool) else tuple(unp)
        if (module.decoded_stages == head.decoded_stages and module.kv_sources == head.kv_sources
                and module.unet == kw['unet'] and module.shared_kv == bool(kw.get('shared_kv'))
                and module.kv_unpooled_conv == unp and module.query_pool == kw['query_pool']
                and module.kv_norm == kw['kv_norm'] and not module.kv_pre_norm
                and set(module.kv_strides) == {kw['kv_stride']}
                and (module.num_taps == 0 or head.name == 'APFormerHeadMulti')
                and (module.num_taps > 0 or head.name != 'APFormerHeadMulti')):
            return head
    return None


def dead_params(module: Any, conv_seg_in: int) -> int:
    """Parameters the official layout of ``module``'s function carries but
    never uses (see architecture.md and official-runs.md 3.1-3.4)."""
    head = match_head(module)
    if head is None:
        return 0
    n = module.num_classes * conv_seg_in + module.num_classes  # base class conv_seg
    dims = [b.norm2.normalized_shape[0] for b in module.blocks]
    if 'attn_c1\\..*' in head.dead:  # the discarded stage-1 block, as a whole
        c1, t = module.stage_channels[1], dims[0]
        block = (2 * c1 + 2 * t + c1 * c1 + t * 2 * c1 + c1 * c1 + c1 + 2 * c1  # norms, q, kv, proj
                 + c1 * 4 * c1 + 4 * c1 + 4 * c1 * 9 + 4 * c1 + 4 * c1 * c1 + c1)  # Mix-FFN
        n += block
        dims.append(t)
    for t in dims:
        n += t * t + t  # the unused 1x1 conv on the keys/values
        if head.ade_attention:
            n += 2 * t  # and the ADE20K head's unused LayerNorm
    if 'cat_key2\\..*' in head.dead:  # APFormerHeadSingle's overwritten stage-3 conv
        c4 = module.stage_channels[4]
        n += c4 * c4 + c4
    return n
