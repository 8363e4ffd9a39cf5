"""A few optimisation steps on a fixed batch lower the loss (real backward)."""
import os

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from conftest import CONFIG_DIR
from umixformer.complexity import build_segmentor


def batch(num_classes, hw=(64, 64), n=2):
    torch.manual_seed(0)
    imgs = torch.randn(n, 3, *hw)
    samples = []
    for i in range(n):
        label = torch.zeros(hw, dtype=torch.long)
        label[:, hw[1] // 2:] = 1 + i  # two regions, learnable from the image
        imgs[i, :, :, hw[1] // 2:] += 2.0 * (1 + i)
        s = SegDataSample(metainfo=dict(img_shape=hw, ori_shape=hw, pad_shape=hw))
        s.gt_sem_seg = PixelData(data=label[None] % num_classes)
        samples.append(s)
    return imgs, samples


@pytest.mark.parametrize('config', [
    'umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
    'umixformer/umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py',
    'feedformer/feedformer_mit-b0_1xb16-160k_ade20k-512x512.py',
])
def test_training_lowers_loss(config):
    torch.manual_seed(0)  # the same model and batch whatever ran before in this process
    model = build_segmentor(os.path.join(CONFIG_DIR, config), eval_mode=False).train()
    imgs, samples = batch(model.decode_head.num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = model(imgs, samples, mode='loss')['decode.loss_ce']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], losses
