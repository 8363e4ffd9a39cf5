"""Lite Vision Transformer (Yang et al., CVPR 2022) as an mmseg backbone."""
import math
import os
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from ..layers.block import init_transformer_weights


class PatchEmbed(nn.Module):
    """Overlapping conv patch embedding + LayerNorm; channels-last output."""

    def __init__(self, in_channels: int, dim: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size, stride, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:  # NCHW -> NHWC
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class ConvSelfAttention(nn.Module):
    """CSA: each output window of k x k pixels is a softmax-weighted mix of the
    k x k input pixels of its window (stride 2), the weights predicted from the
    pooled window by a linear layer; values pass a per-offset linear map
    (a grouped 1x1 conv); overlapping windows are summed back (fold).

    Args:
        dim (int): Channels.
        num_heads (int): Heads.
        kernel_size (int): Window size k. Default: 3.
        stride (int): Window stride. Default: 2.
    """

    def __init__(self, dim: int, num_heads: int, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.dim, self.num_heads = dim, num_heads
        self.k, self.stride, self.padding = kernel_size, stride, kernel_size // 2
        self.scale = (dim // num_heads) ** -0.5
        kk = kernel_size * kernel_size
        self.attn = nn.Linear(dim, kk * kk * num_heads)
        self.pool = nn.AvgPool2d(stride, stride, ceil_mode=True)
        self.weight = nn.Conv2d(kk * dim, kk * dim, 1, groups=kk, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:  # NHWC
        B, H, W, C = x.shape
        kk, heads = self.k * self.k, self.num_heads
        h, w = math.ceil(H / self.stride), math.ceil(W / self.stride)
        grid = x.permute(0, 3, 1, 2)
        attn = self.attn(self.pool(grid).permute(0, 2, 3, 1))
        attn = (attn.reshape(B, h * w, heads, kk, kk).transpose(1, 2) * self.scale).softmax(-1)
        v = F.unfold(grid, self.k, padding=self.padding, stride=self.stride)  # B, C*kk, hw
        v = v.reshape(B, C, kk, h * w).permute(0, 3, 2, 1).reshape(B * h * w, kk * C, 1, 1)
        v = self.weight(v).reshape(B, h * w, kk, heads, C // heads).permute(0, 3, 1, 2, 4)
        out = (attn @ v).permute(0, 1, 4, 3, 2).reshape(B, C * kk, h * w)
        out = F.fold(out, (H, W), self.k, padding=self.padding, stride=self.stride)
        return self.proj(out.permute(0, 2, 3, 1))


class AtrousDWConv(nn.Module):
    """Sum of SiLU(depthwise 3x3 conv) at several dilations, one shared kernel."""

    def __init__(self, dim: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.dilations = tuple(dilations)
        self.weight = nn.Parameter(torch.empty(dim, 1, 3, 3))
        nn.init.kaiming_uniform_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        groups = x.shape[1]
        return sum(
            F.silu(F.conv2d(x, self.weight, padding=d, dilation=d, groups=groups))
            for d in self.dilations)


class RecursiveAtrousSelfAttention(nn.Module):
    """RASA: spatial-reduction self-attention whose queries pass a multi-scale
    atrous depthwise conv, applied ``recursions`` times with SiLU and a residual.

    Args:
        dim (int): Channels.
        num_heads (int): Heads.
        sr_ratio (int): Key/value spatial reduction (strided conv + LN) if > 1.
        atrous_rates (Sequence[int]): Dilations of the query conv.
        recursions (int): Number of recursive applications. Default: 2.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int,
                 atrous_rates: Sequence[int] = (1, 3, 5), recursions: int = 2) -> None:
        super().__init__()
        self.num_heads, self.sr_ratio, self.recursions = num_heads, sr_ratio, recursions
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, dim * 2, bias=False)
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            self.norm = nn.LayerNorm(dim)
        self.ds = AtrousDWConv(dim, atrous_rates)

    def _attend(self, x: Tensor) -> Tensor:  # NHWC
        B, H, W, C = x.shape
        heads = self.num_heads
        q = self.ds(self.q(x).permute(0, 3, 1, 2))
        q = q.reshape(B, heads, C // heads, H * W).transpose(-2, -1)
        kv = x
        if self.sr_ratio > 1:
            kv = self.norm(self.sr(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
        k, v = self.kv(kv).reshape(B, -1, 2, heads, C // heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, H, W, C))

    def forward(self, x: Tensor) -> Tensor:
        out = self._attend(x)
        if self.recursions > 1:
            out = F.silu(out)
        for _ in range(self.recursions - 1):
            x = out + x
            out = F.silu(self._attend(x))
        return out


class ConvMlp(nn.Module):
    """1x1 conv -> depthwise 3x3 -> GELU -> 1x1 conv (NHWC in and out); with
    ``depthwise=False`` a plain Linear-GELU-Linear MLP."""

    def __init__(self, dim: int, hidden: int, depthwise: bool) -> None:
        super().__init__()
        self.depthwise = depthwise
        if depthwise:
            self.fc1 = nn.Conv2d(dim, hidden, 1)
            self.depconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
            self.fc2 = nn.Conv2d(hidden, dim, 1)
        else:
            self.fc1 = nn.Linear(dim, hidden)
            self.fc2 = nn.Linear(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        if not self.depthwise:
            return self.fc2(self.act(self.fc1(x)))
        x = self.fc1(x.permute(0, 3, 1, 2))
        return self.fc2(self.act(self.depconv(x))).permute(0, 2, 3, 1)


class LVTBlock(nn.Module):

    def __init__(self, dim: int, attn: nn.Module, mlp_ratio: float, depthwise: bool,
                 drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = attn
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), depthwise)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PretrainedMismatchError(RuntimeError):
    """A pretrained checkpoint does not hold exactly the module's keys."""


def load_strict(module: nn.Module, checkpoint: str) -> None:
    """Loads ``checkpoint`` into ``module`` with every key matched, or raises
    naming the missing and unexpected keys (never a silent partial load)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    if '://' not in checkpoint and not os.path.isfile(checkpoint):
        raise FileNotFoundError(
            f'pretrained checkpoint {checkpoint} not found (relative paths are read from the working '
            f'directory {os.getcwd()}); give an absolute path in init_cfg.checkpoint')
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        def show(keys):
            return ', '.join(keys[:8]) + (f' ... ({len(keys)} in all)' if len(keys) > 8 else '') or '-'
        raise PretrainedMismatchError(
            f'{checkpoint} does not match {type(module).__name__}: missing keys: {show(missing)}; '
            f'unexpected keys: {show(unexpected)}; wrong shapes: {show(wrong)}')
    module.load_state_dict(state, strict=True)


@MODELS.register_module()
class LVT(BaseModule):
    """Lite Vision Transformer backbone: stage 1 uses convolutional
    self-attention (CSA), later stages recursive atrous self-attention (RASA).

    The ImageNet checkpoint is optional: give it as
    ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``. It is loaded by
    ``init_weights`` (the Runner's model initialisation), never at import or
    construction, and strictly, as the official code loads it: the file must
    hold exactly this module's keys (a plain state dict, or one under
    ``state_dict``), else an error names the missing and unexpected keys.
    Parameter names follow the original release.

    Args:
        in_channels (int): Image channels. Default: 3.
        embed_dims (Sequence[int]): Channels per stage. Default: (64, 64, 160, 256).
        num_heads (Sequence[int]): Heads per stage. Default: (2, 2, 5, 8).
        num_layers (Sequence[int]): Blocks per stage. Default: (2, 2, 2, 2).
        mlp_ratios (Sequence[float]): MLP expansion per stage. Default: (4, 8, 4, 4).
        mlp_depthwise (Sequence[bool]): Depthwise conv in the MLP per stage.
            Default: (False, True, True, True).
        sr_ratios (Sequence[int]): RASA key/value reduction per stage (stage 1
            uses CSA, which has none). Default: (8, 4, 2, 1).
        atrous_rates (Sequence[int]): RASA query dilations. Default: (1, 3, 5).
        recursions (int): RASA recursions. Default: 2.
        drop_path_rate (float): Stochastic depth, linearly increasing. Default: 0.1.
        out_indices (Sequence[int]): Stages to return. Default: (0, 1, 2, 3).
        init_cfg (dict, optional): mmengine init config (e.g. Pretrained).
    """

    def __init__(self,
                 in_channels: int = 3,
                 embed_dims: Sequence[int] = (64, 64, 160, 256),
                 num_heads: Sequence[int] = (2, 2, 5, 8),
                 num_layers: Sequence[int] = (2, 2, 2, 2),
                 mlp_ratios: Sequence[float] = (4, 8, 4, 4),
                 mlp_depthwise: Sequence[bool] = (False, True, True, True),
                 sr_ratios: Sequence[int] = (8, 4, 2, 1),
                 atrous_rates: Sequence[int] = (1, 3, 5),
                 recursions: int = 2,
                 drop_path_rate: float = 0.1,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.out_indices = tuple(out_indices)
        total = sum(num_layers)
        stages, cur = [], 0
        for i, dim in enumerate(embed_dims):
            embed = PatchEmbed(in_channels if i == 0 else embed_dims[i - 1], dim,
                               kernel_size=7 if i == 0 else 3, stride=4 if i == 0 else 2)
            blocks = []
            for _ in range(num_layers[i]):
                attn = (ConvSelfAttention(dim, num_heads[i]) if i == 0 else
                        RecursiveAtrousSelfAttention(dim, num_heads[i], sr_ratios[i],
                                                     atrous_rates, recursions))
                dpr = drop_path_rate * cur / max(total - 1, 1)
                blocks.append(LVTBlock(dim, attn, mlp_ratios[i], mlp_depthwise[i], dpr))
                cur += 1
            stages.append(nn.Sequential(embed, nn.Sequential(*blocks)))
        self.backbone = nn.ModuleList(stages)
        self._init_from_scratch()

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            load_strict(self, cfg['checkpoint'])
            self._is_init = True
            return
        super().init_weights()

    def _init_from_scratch(self) -> None:
        # Linear/LayerNorm as the original; CSA's value map keeps its He init.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                init_transformer_weights(m)
        for m in self.modules():
            if isinstance(m, ConvSelfAttention):
                fan_out = m.weight.out_channels
                nn.init.normal_(m.weight.weight, 0, math.sqrt(2.0 / fan_out))

    def forward(self, x: Tensor) -> List[Tensor]:
        outs = []
        for i, stage in enumerate(self.backbone):
            x = stage(x if i == 0 else x.permute(0, 3, 1, 2))
            if i in self.out_indices:
                outs.append(x.permute(0, 3, 1, 2).contiguous())
        return outs
