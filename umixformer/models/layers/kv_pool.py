"""The key/value feature set of mix-attention: pooled, projected, concatenated."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor


class KVPool(nn.Module):
    """Pools feature maps of different strides to one grid and concatenates them.

    Each source is average pooled with kernel = stride = its ratio and
    projected by its own 1x1 conv; a source with ratio 1 passes unchanged
    unless ``unpooled_conv`` asks for a conv there too.

    Args:
        channels (Sequence[int]): Channels of each source, in input order.
        pool_ratios (Sequence[int]): Pool ratio of each source; the pooled grids
            must coincide (sources at strides s_i with ratio r_i where s_i*r_i is
            the same for all).
        ceil_mode (bool): Pooling keeps partial border windows (U-MixFormer's
            CatKey) or drops them (False: FeedFormer). Default: True.
        unpooled_conv (bool): Give ratio-1 sources a 1x1 conv as well (the
            official single-source ablation head does at its first stage).
    """

    def __init__(self, channels: Sequence[int], pool_ratios: Sequence[int],
                 ceil_mode: bool = True, unpooled_conv: bool = False) -> None:
        super().__init__()
        if len(channels) != len(pool_ratios):
            raise ValueError(f'{len(channels)} channels but {len(pool_ratios)} pool ratios')
        self.pool_ratios = tuple(pool_ratios)
        self.out_channels = int(sum(channels))
        self.pools = nn.ModuleList(
            nn.AvgPool2d(r, r, ceil_mode=ceil_mode) if r > 1 else nn.Identity() for r in pool_ratios)
        self.convs = nn.ModuleList(
            nn.Conv2d(c, c, kernel_size=1) if r > 1 or unpooled_conv else nn.Identity()
            for c, r in zip(channels, pool_ratios))

    def forward(self, feats: List[Tensor]) -> Tuple[Tensor, Tuple[int, int]]:
        """Returns the tokens (B, h*w, sum(channels)) and the grid (h, w)."""
        pooled = [conv(pool(f)) for f, pool, conv in zip(feats, self.pools, self.convs)]
        sizes = {tuple(int(n) for n in p.shape[2:]) for p in pooled}
        if len(sizes) != 1 and not torch.jit.is_tracing():
            shapes = [tuple(f.shape[2:]) for f in feats]
            raise ValueError(f'key/value sources {shapes} pooled by {self.pool_ratios} give '
                             f'different grids {sorted(sizes)}; the ratios must map every '
                             'source to the same stride')
        grid = torch.cat(pooled, dim=1)
        return grid.flatten(2).transpose(1, 2), tuple(grid.shape[2:])
