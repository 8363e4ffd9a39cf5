"""The optimized inference path computes what the plain implementation does."""
import os

import pytest
import torch

from conftest import CONFIG_DIR
from umixformer.complexity import build_segmentor
from umixformer.optimize import optimize_for_inference, set_plain


@pytest.mark.parametrize('config,hw', [
    ('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py', (256, 320)),
    ('umixformer/umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', (256, 512)),
    ('umixformer/umixformer_mit-b4-taps_1xb16-160k_ade20k-512x512.py', (128, 128)),
    ('feedformer/feedformer_mit-b0_1xb16-160k_ade20k-512x512.py', (256, 256)),
    ('segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py', (192, 256)),  # encoder attention only
])
@pytest.mark.parametrize('channels_last', [False, True])
def test_optimized_equals_plain(config, hw, channels_last):
    torch.manual_seed(0)
    model = build_segmentor(os.path.join(CONFIG_DIR, config))
    # non-trivial BN statistics, so the fuse's norm is exercised
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        ref = set_plain(model)(x)
        fast_model = optimize_for_inference(model, channels_last=channels_last)
        fast = fast_model(x.contiguous(memory_format=torch.channels_last) if channels_last else x)
    # the encoder's attention runs fused (not nn.MultiheadAttention)
    fused = [m for m in fast_model.backbone.modules() if 'forward' in vars(m)]
    assert fused or 'mit' not in config
    diff = (fast - ref).abs().max().item()
    print(f'{os.path.basename(config)} channels_last={channels_last}: max |diff| = {diff:.2e}')
    assert diff < 1e-4 * max(1.0, ref.abs().max().item())
    assert fast.shape == ref.shape
