"""MiT encoder that also returns intermediate stage-3 maps (U-MixFormer-dagger)."""
from typing import List

from mmseg.models.backbones import MixVisionTransformer
from mmseg.models.utils import nlc_to_nchw
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class MixVisionTransformerTaps(MixVisionTransformer):
    """MixVisionTransformer returning the four stage outputs followed by taps
    of one stage taken inside its block sequence.

    A tap is the (un-normalized) token map after block ``k`` of the tapped
    stage for every ``k`` with ``k % tap_interval == 0`` and ``k > 0`` (0-based),
    as the official "-multi" configs do: MiT-B4 (27 stage-3 blocks) gives 4
    taps (after blocks 6, 12, 18, 24), MiT-B5 (40 blocks) gives 6.

    Args:
        tap_stage (int): 0-based index of the tapped stage. Default: 2 (stage 3).
        tap_interval (int): Blocks between taps. Default: 6.
        **kwargs: MixVisionTransformer arguments.
    """

    def __init__(self, tap_stage: int = 2, tap_interval: int = 6, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= tap_stage < self.num_stages or tap_interval < 1:
            raise ValueError(f'bad tap_stage {tap_stage} / tap_interval {tap_interval}')
        self.tap_stage = tap_stage
        self.tap_interval = tap_interval

    @property
    def num_taps(self) -> int:
        return (self.num_layers[self.tap_stage] - 1) // self.tap_interval

    def forward(self, x: Tensor) -> List[Tensor]:
        outs, taps = [], []
        for i, (patch_embed, blocks, norm) in enumerate(self.layers):
            x, hw_shape = patch_embed(x)
            for k, block in enumerate(blocks):
                x = block(x, hw_shape)
                if i == self.tap_stage and k and k % self.tap_interval == 0:
                    taps.append(nlc_to_nchw(x, hw_shape))
            x = nlc_to_nchw(norm(x), hw_shape)
            if i in self.out_indices:
                outs.append(x)
        return outs + taps
