"""U-MixFormer decode head (Yeom & von Klitzing, arXiv 2312.06272)."""
from typing import Dict, List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from torch import Tensor

from ..layers import KVPool, MixAttentionBlock

STAGES = (4, 3, 2, 1)  # decoder order: deepest first

# Key/value source sets per decoder stage (deepest first), by stage number.
# With U-Net chaining a stage that is already decoded contributes its decoder
# output, every other stage its encoder feature.
KV_SOURCE_PRESETS: Dict[str, Tuple[Tuple[int, ...], ...]] = {
    # mix-attention over all four stages (the paper's design)
    'all': ((4, 3, 2, 1), (4, 3, 2, 1), (4, 3, 2, 1), (4, 3, 2, 1)),
    # the stage itself and its neighbours
    'adjacent': ((4, 3), (4, 3, 2), (3, 2, 1), (2, 1)),
    # the stage itself and the single previous (deeper) decoder stage (this
    # project's variant; no official counterpart)
    'previous': ((4, ), (4, 3), (3, 2), (2, 1)),
    # the single previous decoder stage alone, the stage's own feature left
    # out except at stage 4: the official APFormerHeadSingle (with U-Net
    # chaining; its stage 4 also convolves E4, see kv_unpooled_conv)
    'single': ((4, ), (4, ), (3, ), (2, )),
    # every other stage, not the stage itself: the official APFormerHeadMulti
    # of commit fedaa81 (used with unet=False)
    'others': ((3, 2, 1), (4, 2, 1), (4, 3, 1), (4, 3, 2)),
    # self-attention: keys/values from the query's own feature
    'self': ((4, ), (3, ), (2, ), (1, )),
    # cross-attention: keys/values from one other stage, the previous decoder
    # output (the first stage has none and attends to E3)
    'cross': ((3, ), (4, ), (3, ), (2, )),
}
ATTENTION_TYPES = ('mix', 'self', 'cross')

KVSources = Union[str, Sequence[Sequence[int]]]


def resolve_kv_sources(attention_type: str, kv_sources: KVSources,
                       stages: Sequence[int] = STAGES) -> Tuple[Tuple[int, ...], ...]:
    """Turns (attention_type, kv_sources) into one tuple of stage numbers per
    decoded stage; explicit sequences are taken as they are."""
    if attention_type not in ATTENTION_TYPES:
        raise ValueError(f'attention_type must be one of {ATTENTION_TYPES}, got {attention_type!r}')
    if isinstance(kv_sources, str):
        if attention_type != 'mix':
            if kv_sources != 'all':
                raise ValueError(f'kv_sources={kv_sources!r} only applies to attention_type="mix"; '
                                 f'{attention_type}-attention fixes its own sources')
            kv_sources = attention_type
        if kv_sources not in KV_SOURCE_PRESETS:
            raise ValueError(f'unknown kv_sources {kv_sources!r}; use one of '
                             f'{sorted(KV_SOURCE_PRESETS)} or explicit stage tuples')
        preset = dict(zip(STAGES, KV_SOURCE_PRESETS[kv_sources]))
        return tuple(preset[s] for s in stages)
    resolved = tuple(tuple(int(s) for s in src) for src in kv_sources)
    if len(resolved) != len(stages) or any(not src or set(src) - set(STAGES) for src in resolved):
        raise ValueError(f'kv_sources must give a non-empty tuple of stages 1-4 for each of the '
                         f'{len(stages)} decoded stages {tuple(stages)}, got {kv_sources!r}')
    return resolved


def pool_ratio(kv_stride: int, stage: int) -> int:
    """Pool ratio that takes stage ``stage`` (stride 2**(stage+1)) to ``kv_stride``."""
    src = 2**(stage + 1)
    if kv_stride % src:
        raise ValueError(f'kv_stride {kv_stride} is not a multiple of stage {stage}\'s stride {src}')
    return kv_stride // src


@MODELS.register_module()
class UMixFormerHead(BaseDecodeHead):
    """U-Net-like transformer decoder with mix-attention.

    Four decoder stages, deepest first; the query of each is its lateral encoder
    feature, its keys/values the pooled mix of the source set (with U-Net
    chaining, decoder outputs replace their encoder counterparts). The decoder
    outputs are upsampled to stride 4, fused by a 1x1 ConvModule to
    ``channels`` and classified by ``conv_seg``. ADE20K and Cityscapes heads,
    the ablation variants and FeedFormer are configurations of this class.

    Args:
        num_heads (Sequence[int]): Attention heads of the decoder stages,
            deepest first. Default: (8, 5, 2, 1).
        kv_stride (int | Sequence[int]): Stride of the key/value grid, one
            value or one per decoded stage. Every source at stride s is average
            pooled by kv_stride / s (with its own 1x1 conv where that is > 1):
            32 is the ADE20K head (pool ratios 1, 2, 4, 8), 64 the Cityscapes
            head (2, 4, 8, 16); FeedFormer uses (32, 16, 8).
        query_pool (int): Query pool ratio inside the attention: 1 (ADE20K
            head) or 2 (Cityscapes head).
        kv_norm (bool): Extra LayerNorm on the keys/values inside the
            attention (Cityscapes head).
        attention_type (str): 'mix', 'self' or 'cross'.
        kv_sources (str | Sequence[Sequence[int]]): For mix-attention, the
            source set: 'all', 'adjacent', 'previous' (see KV_SOURCE_PRESETS),
            or explicit stage numbers per decoded stage.
        unet (bool): U-Net chaining: decoder outputs replace their encoder
            features in the key/value sets of later stages. False decodes
            every stage from the encoder features (parallel).
        decoded_stages (Sequence[int]): Stages that get a decoder block,
            deepest first; the others pass their encoder feature to the fuse.
        kv_pre_norm (bool): LayerNorm each source before pooling (FeedFormer)
            instead of normalizing the pooled set.
        shared_kv (bool): One key/value set, pooled once from the encoder
            features, serves every stage (the official parallel-decoder
            ablation APFormerHead). Needs ``unet=False`` and the same sources
            and stride for every stage.
        kv_unpooled_conv (bool | Sequence[bool]): Per decoded stage (or one
            value): sources with pool ratio 1 get a 1x1 conv too. The official
            APFormerHeadSingle does this at stage 4 only. Default: False.
        pre_norm (bool): Pre-norm residual blocks (original FeedFormer) instead
            of U-MixFormer's order. Default: False.
        ceil_mode (bool): Average pooling (keys/values and the query pool)
            keeps partial border windows (U-MixFormer) or drops them
            (FeedFormer). Equal on grids divisible by the ratio. Default: True.
        mlp_ratio (float): Mix-FFN expansion. Default: 4.
        drop_path_rate (float): Stochastic depth of every block. Default: 0.1.
        fused_attention (bool): Use ``scaled_dot_product_attention``.
        fast_fuse (bool): Apply each decoder output's slice of the 1x1 fuse
            conv before upsampling instead of after the concat. Bilinear
            upsampling and a 1x1 conv are both linear, so this is the same
            function and gradient (equal up to float rounding) at a fraction
            of the cost; off by default so that GFLOPs count the paper's form.
        **kwargs: BaseDecodeHead arguments. ``in_channels``/``in_index`` list
            the four stages (stride 4 to 32) and then any extra stage-3 maps
            (U-MixFormer-dagger taps), which join every key/value set pooled
            by the stage-3 ratio. ``channels`` is the fuse width (embed_dim).
    """

    def __init__(self,
                 num_heads: Sequence[int] = (8, 5, 2, 1),
                 kv_stride: Union[int, Sequence[int]] = 32,
                 query_pool: int = 1,
                 kv_norm: bool = False,
                 attention_type: str = 'mix',
                 kv_sources: KVSources = 'all',
                 unet: bool = True,
                 decoded_stages: Sequence[int] = STAGES,
                 kv_pre_norm: bool = False,
                 shared_kv: bool = False,
                 kv_unpooled_conv: Union[bool, Sequence[bool]] = False,
                 pre_norm: bool = False,
                 ceil_mode: bool = True,
                 mlp_ratio: float = 4.,
                 drop_path_rate: float = 0.1,
                 fused_attention: bool = True,
                 fast_fuse: bool = False,
                 **kwargs) -> None:
        super().__init__(input_transform='multiple_select', **kwargs)
        self._check_and_set(num_heads, kv_stride, query_pool, kv_norm, attention_type, kv_sources, unet,
                            decoded_stages, kv_pre_norm, shared_kv, kv_unpooled_conv, fast_fuse)
        self._build(num_heads, ceil_mode, pre_norm, mlp_ratio, drop_path_rate, fused_attention)

    def _check_and_set(self, num_heads, kv_stride, query_pool, kv_norm, attention_type, kv_sources, unet,
                       decoded_stages, kv_pre_norm, shared_kv, kv_unpooled_conv, fast_fuse) -> None:
        """Validates the arguments (each error names the argument and what it takes) and
        resolves the per-stage settings."""
        if len(self.in_channels) < 4:
            raise ValueError(f'in_channels needs the four encoder stages, got {self.in_channels}')
        if len(num_heads) != 4:
            raise ValueError(f'num_heads takes one value per stage (deepest first), got {num_heads}')
        self.decoded_stages = tuple(decoded_stages)
        if set(self.decoded_stages) - set(STAGES) or list(self.decoded_stages) != sorted(
                self.decoded_stages, reverse=True):
            raise ValueError(f'decoded_stages must be stages 1-4, deepest first, got {decoded_stages}')
        self.stage_channels = {s: self.in_channels[s - 1] for s in STAGES}
        self.num_taps = len(self.in_channels) - 4
        self.kv_sources = resolve_kv_sources(attention_type, kv_sources, self.decoded_stages)
        kv_strides = ([kv_stride] * len(self.decoded_stages)
                      if isinstance(kv_stride, int) else list(kv_stride))
        if len(kv_strides) != len(self.decoded_stages):
            raise ValueError(f'kv_stride needs one value or one per decoded stage '
                             f'{self.decoded_stages}, got {kv_stride}')
        unpooled_conv = ([kv_unpooled_conv] * len(self.decoded_stages)
                         if isinstance(kv_unpooled_conv, bool) else [bool(v) for v in kv_unpooled_conv])
        if len(unpooled_conv) != len(self.decoded_stages):
            raise ValueError(f'kv_unpooled_conv needs one value or one per decoded stage '
                             f'{self.decoded_stages}, got {kv_unpooled_conv}')
        if shared_kv and (unet or len(set(self.kv_sources)) != 1 or len(set(kv_strides)) != 1
                          or len(set(unpooled_conv)) != 1):
            raise ValueError('shared_kv=True pools one key/value set from the encoder features for '
                             'every stage: it needs unet=False and the same kv_sources, kv_stride and '
                             f'kv_unpooled_conv for every stage, got unet={unet}, kv_sources='
                             f'{self.kv_sources}, kv_stride={kv_stride}')
        self.unet = unet
        self.kv_pre_norm = kv_pre_norm
        self.shared_kv = shared_kv
        self.kv_strides = tuple(int(s) for s in kv_strides)
        self.kv_unpooled_conv = tuple(unpooled_conv)
        self.query_pool = query_pool
        self.kv_norm = kv_norm
        self.fast_fuse = fast_fuse

    def _build(self, num_heads, ceil_mode, pre_norm, mlp_ratio, drop_path_rate, fused_attention) -> None:
        """The modules, in the order the official head registers them (the same
        parameter order and initialisation draws)."""
        tap_channels = list(self.in_channels[4:])
        self.kv_pools = nn.ModuleList()
        self.kv_pre_norms = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for idx, (stage, sources, stride) in enumerate(
                zip(self.decoded_stages, self.kv_sources, self.kv_strides)):
            channels = [self.stage_channels[s] for s in sources] + tap_channels
            ratios = [pool_ratio(stride, s) for s in sources]
            if self.num_taps:
                ratios += [pool_ratio(stride, 3)] * self.num_taps
            pool = KVPool(channels, ratios, ceil_mode=ceil_mode, unpooled_conv=self.kv_unpooled_conv[idx])
            if not self.shared_kv or idx == 0:
                self.kv_pools.append(pool)
                if self.kv_pre_norm:
                    self.kv_pre_norms.append(nn.ModuleList(nn.LayerNorm(c) for c in channels))
            self.blocks.append(
                MixAttentionBlock(
                    self.stage_channels[stage],
                    pool.out_channels,
                    num_heads[STAGES.index(stage)],
                    mlp_ratio=mlp_ratio,
                    drop_path=drop_path_rate,
                    query_pool=self.query_pool,
                    kv_norm=self.kv_norm,
                    fused=fused_attention,
                    ceil_mode=ceil_mode,
                    pre_norm=pre_norm))
        self.fuse = ConvModule(
            sum(self.stage_channels.values()),
            self.channels,
            kernel_size=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _kv_tokens(self, idx: int, feats: List[Tensor]) -> Tensor:
        if self.kv_pre_norm:
            feats = [
                norm(f.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
                for f, norm in zip(feats, self.kv_pre_norms[idx])
            ]
        return self.kv_pools[idx](feats)[0]

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Returns class logits at the stride-4 grid."""
        feats = self._transform_inputs(inputs)
        enc = dict(zip((1, 2, 3, 4), feats[:4]))
        taps = list(feats[4:])
        memory = dict(enc)  # what later stages see of each stage
        out = dict(enc)
        shared = (self._kv_tokens(0, [enc[s] for s in self.kv_sources[0]] + taps)
                  if self.shared_kv else None)
        for idx, (stage, sources) in enumerate(zip(self.decoded_stages, self.kv_sources)):
            kv = shared if shared is not None else self._kv_tokens(
                idx, [memory[s] for s in sources] + taps)
            q = enc[stage]
            B, C, H, W = q.shape
            x = self.blocks[idx](q.flatten(2).transpose(1, 2), (H, W), kv)
            out[stage] = x.transpose(1, 2).reshape(B, C, H, W)
            if self.unet:
                memory[stage] = out[stage]
        if self.fast_fuse:
            return self.cls_seg(self._fuse_projected_first(out))
        size = enc[1].shape[2:]
        fused = self.fuse(
            torch.cat([
                resize(out[s], size=size, mode='bilinear', align_corners=False) if s != 1 else out[s]
                for s in STAGES
            ], dim=1))
        return self.cls_seg(fused)

    def _fuse_projected_first(self, out: Dict[int, Tensor]) -> Tensor:
        """fuse(concat(up(D4), up(D3), up(D2), D1)) computed as
        sum_s up(W_s * D_s) -> norm -> act, with W_s the fuse weight's slice."""
        conv = self.fuse.conv
        weights = torch.split(conv.weight, [self.stage_channels[s] for s in STAGES], dim=1)
        size = out[1].shape[2:]
        acc = F.conv2d(out[1], weights[-1], conv.bias)
        for s, w in zip(STAGES[:-1], weights[:-1]):
            acc = acc + resize(F.conv2d(out[s], w), size=size, mode='bilinear', align_corners=False)
        if self.fuse.with_norm:
            acc = getattr(self.fuse, self.fuse.norm_name)(acc)
        return self.fuse.activate(acc) if self.fuse.with_activation else acc
