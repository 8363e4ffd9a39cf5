"""Every config builds and runs a forward pass; odd input sizes work."""
import os

import pytest
import torch

from conftest import CONFIG_DIR, model_configs
from umixformer.complexity import build_segmentor, load_config


@pytest.mark.parametrize('config', model_configs(), ids=os.path.basename)
def test_config_forward(config):
    model = build_segmentor(config)
    head = load_config(config).model.decode_head
    in_index = head.in_index if isinstance(head.in_index, (list, tuple)) else [head.in_index]
    stride = 4 * 2**min(in_index)  # logits come at the finest stage the head reads
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        logits = model(x)  # mode='tensor'
    assert logits.shape == (1, head.num_classes, 64 // stride, 96 // stride)
    assert torch.isfinite(logits).all()


# 375 x 500 (a typical ADE20K image) and 513 x 1025, odd at every stage (129x257 ... 17x33);
# 1023 x 2047 took 4x the time and is even from the first stage on
@pytest.mark.parametrize('hw', [(375, 500), (513, 1025)])
@pytest.mark.parametrize('config', [
    'umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
    'umixformer/umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py'
])
def test_odd_input_sizes(config, hw):
    model = build_segmentor(os.path.join(CONFIG_DIR, config))
    with torch.no_grad():
        logits = model(torch.randn(1, 3, *hw))
    # MiT's stride-4 patch embed (7x7, pad 3) gives ceil(H/4) x ceil(W/4)
    assert logits.shape[2:] == ((hw[0] + 3) // 4, (hw[1] + 3) // 4)
    assert torch.isfinite(logits).all()
