"""Mix-attention: queries from one feature map, keys/values from a mixed token set."""
from typing import Tuple

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class MixAttention(nn.Module):
    """Multi-head attention of query tokens over a (mixed) key/value token set.

    This is the attention of the U-MixFormer decoder. The key/value tokens are
    built outside (see :class:`KVPool`), so the same module serves self-, cross-
    and mix-attention: only the token set differs.

    Args:
        dim (int): Query (and output) channels C.
        kv_dim (int): Channels of the key/value tokens (T for mix-attention).
        num_heads (int): Attention heads; ``dim`` must be divisible by it.
        query_pool (int): Average-pool ratio applied to the query grid before
            the q projection, followed by a 1x1 conv, LayerNorm and GELU; the
            output is upsampled back (bilinear). 1 disables it (ADE20K head);
            the Cityscapes head uses 2.
        kv_norm (bool): Apply an own LayerNorm to the key/value tokens before
            the GELU (Cityscapes head). The ADE20K head applies GELU only.
        fused (bool): Compute softmax(qk^T)v with
            ``F.scaled_dot_product_attention`` (same function, fused kernel).
        ceil_mode (bool): Query pooling keeps partial border windows of odd
            grids (True) or drops them (False, FeedFormer's AvgPool2d).
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
    """

    def __init__(self,
                 dim: int,
                 kv_dim: int,
                 num_heads: int,
                 query_pool: int = 1,
                 kv_norm: bool = False,
                 fused: bool = True,
                 ceil_mode: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        self.dim = dim
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.query_pool = query_pool
        self.fused = fused
        self.attn_drop = attn_drop

        if query_pool > 1:
            # ceil_mode keeps the last row/column of odd grids (the official
            # code assumed even grids; for even grids both agree).
            self.q_pool = nn.AvgPool2d(query_pool, query_pool, ceil_mode=ceil_mode)
            self.q_sr = nn.Conv2d(dim, dim, kernel_size=1)
            self.q_norm = nn.LayerNorm(dim)
        self.kv_norm = nn.LayerNorm(kv_dim) if kv_norm else nn.Identity()
        self.act = nn.GELU()
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(kv_dim, dim * 2, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _query_tokens(self, x: Tensor, hw: Tuple[int, int]) -> Tuple[Tensor, Tuple[int, int]]:
        if self.query_pool == 1:
            return x, hw
        B, _, C = x.shape
        grid = x.transpose(1, 2).reshape(B, C, *hw)
        grid = self.q_sr(self.q_pool(grid))
        pooled_hw = grid.shape[2:]
        tokens = self.act(self.q_norm(grid.flatten(2).transpose(1, 2)))
        return tokens, pooled_hw

    def forward(self, x: Tensor, hw: Tuple[int, int], kv_tokens: Tensor) -> Tensor:
        """Attend.

        Args:
            x (Tensor): Query tokens (B, H*W, C).
            hw (tuple): The query grid (H, W).
            kv_tokens (Tensor): Key/value tokens (B, M, kv_dim).

        Returns:
            Tensor: (B, H*W, C).
        """
        B, N, C = x.shape
        h = self.num_heads
        q_tokens, q_hw = self._query_tokens(x, hw)
        q = self.q(q_tokens).reshape(B, -1, h, C // h).transpose(1, 2)
        kv = self.kv(self.act(self.kv_norm(kv_tokens)))
        k, v = kv.reshape(B, -1, 2, h, C // h).permute(2, 0, 3, 1, 4)
        drop = self.attn_drop if self.training else 0.
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
            attn = F.dropout(attn.softmax(dim=-1), drop, self.training)
            out = attn @ v
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, -1, C)))
        if self.query_pool > 1:
            out = out.transpose(1, 2).reshape(B, C, *q_hw)
            out = F.interpolate(out, size=hw, mode='bilinear', align_corners=False)
            out = out.flatten(2).transpose(1, 2)
        return out
