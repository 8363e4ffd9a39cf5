"""FeedFormer decode head (Shim et al., AAAI 2023)."""
from typing import Sequence, Union

from mmseg.registry import MODELS

from .umixformer_head import KVSources, UMixFormerHead


@MODELS.register_module()
class FeedFormerHead(UMixFormerHead):
    """FeedFormer as a configuration of :class:`UMixFormerHead`.

    E4, E3 and E2 each cross-attend to the stride-4 feature E1 (layer-normed,
    pooled to the query's own stride with an own 1x1 conv, normed again, GELU);
    E1 passes through; the four maps are upsampled, fused and classified as in
    SegFormer. There is no U-Net chaining. The blocks are the original
    FeedFormer's pre-norm residual blocks and pooling drops partial border
    windows (``nn.AvgPool2d`` defaults), as in jhshim1995/FeedFormer@627644c.

    Args:
        kv_sources: Default ((1,), (1,), (1,)): E1 for every block.
        decoded_stages: Default (4, 3, 2).
        kv_stride: Default (32, 16, 8): E1 pooled by 8, 4, 2.
        **kwargs: Further UMixFormerHead / BaseDecodeHead arguments.
    """

    def __init__(self,
                 kv_sources: KVSources = ((1, ), (1, ), (1, )),
                 decoded_stages: Sequence[int] = (4, 3, 2),
                 kv_stride: Union[int, Sequence[int]] = (32, 16, 8),
                 **kwargs) -> None:
        kwargs.setdefault('attention_type', 'cross')
        kwargs.setdefault('unet', False)
        kwargs.setdefault('kv_pre_norm', True)
        kwargs.setdefault('pre_norm', True)
        kwargs.setdefault('ceil_mode', False)
        super().__init__(kv_sources=kv_sources, decoded_stages=decoded_stages,
                         kv_stride=kv_stride, **kwargs)
