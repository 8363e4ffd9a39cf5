"""The U-MixFormer decoder block: mix-attention and Mix-FFN."""
import math
from typing import Tuple

import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import constant_init, normal_init, trunc_normal_init
from torch import Tensor

from .mix_attention import MixAttention


def init_transformer_weights(module: nn.Module) -> None:
    """SegFormer-style init: Linear trunc-normal(0.02), LayerNorm 1/0, conv He (fan-out)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_init(m, std=.02, bias=0.)
        elif isinstance(m, nn.LayerNorm):
            constant_init(m, val=1.0, bias=0.)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            normal_init(m, mean=0., std=math.sqrt(2.0 / fan_out), bias=0.)


class MixFFN(nn.Module):
    """Linear -> depthwise 3x3 conv on the token grid -> GELU -> Linear.

    Args:
        dim (int): Input and output channels.
        hidden_dim (int): Hidden channels.
        drop (float): Dropout after the activation and the output.
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, groups=hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor, hw: Tuple[int, int]) -> Tensor:
        B, N, _ = x.shape
        x = self.fc1(x)
        x = self.dwconv(x.transpose(1, 2).reshape(B, -1, *hw)).flatten(2).transpose(1, 2)
        return self.drop(self.fc2(self.drop(self.act(x))))


class MixAttentionBlock(nn.Module):
    """One decoder stage: ``x = LN1(x); y = LN2(y); x = x + attn(x, y); x = LN3(x);
    x = x + ffn(x)``.

    The residual adds to the normalized query and LN3 follows the sum; this is
    the order the published U-MixFormer models were trained with
    (architecture.md). ``pre_norm=True`` gives the original FeedFormer block
    instead, whose residual stream is the un-normalized query:
    ``x = x + attn(LN1(x), LN2(y)); x = x + ffn(LN3(x))``.

    Args:
        dim (int): Query channels C.
        kv_dim (int): Key/value token channels.
        num_heads (int): Attention heads.
        mlp_ratio (float): FFN hidden width as a multiple of ``dim``.
        drop_path (float): Stochastic depth rate of both residual branches.
        query_pool (int): See :class:`MixAttention`.
        kv_norm (bool): See :class:`MixAttention`.
        fused (bool): See :class:`MixAttention`.
        ceil_mode (bool): See :class:`MixAttention`.
        pre_norm (bool): Pre-norm residuals (FeedFormer) instead of U-MixFormer's
            order. Default: False.
    """

    def __init__(self,
                 dim: int,
                 kv_dim: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 drop_path: float = 0.1,
                 query_pool: int = 1,
                 kv_norm: bool = False,
                 fused: bool = True,
                 ceil_mode: bool = True,
                 pre_norm: bool = False) -> None:
        super().__init__()
        self.pre_norm = pre_norm
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(kv_dim)
        self.attn = MixAttention(dim, kv_dim, num_heads, query_pool=query_pool,
                                 kv_norm=kv_norm, fused=fused, ceil_mode=ceil_mode)
        self.norm3 = nn.LayerNorm(dim)
        self.ffn = MixFFN(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        init_transformer_weights(self)

    def forward(self, x: Tensor, hw: Tuple[int, int], kv_tokens: Tensor) -> Tensor:
        if self.pre_norm:
            x = x + self.drop_path(self.attn(self.norm1(x), hw, self.norm2(kv_tokens)))
            return x + self.drop_path(self.ffn(self.norm3(x), hw))
        x = self.norm1(x)
        x = x + self.drop_path(self.attn(x, hw, self.norm2(kv_tokens)))
        x = self.norm3(x)
        return x + self.drop_path(self.ffn(x, hw))
