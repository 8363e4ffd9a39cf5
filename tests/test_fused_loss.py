"""The fused decode-head loss (``umixformer.fused_loss``, switched on by ``set_fused``) is
mmseg's ``BaseDecodeHead.loss_by_feat``: the same loss, ``acc_seg`` and gradient of the
logits, with ignored pixels, any resize ratio, both ``align_corners`` and both means; a
head whose loss it does not reproduce keeps mmseg's."""
import copy

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from umixformer.optimize import computation, set_fused

FLOAT32_TOLERANCE = 1e-5  # relative to the largest gradient (measured: ~3e-7)


def _head(num_classes, align_corners, **loss):
    loss = dict(type='CrossEntropyLoss', use_sigmoid=False, **loss)
    return MODELS.build(dict(type='SegformerHead', in_channels=[4] * 4, in_index=[0, 1, 2, 3], channels=4,
                             num_classes=num_classes, align_corners=align_corners, loss_decode=loss))


def _samples(labels):
    out = []
    for lab in labels:
        s = SegDataSample(metainfo=dict(img_shape=tuple(lab.shape)))
        s.gt_sem_seg = PixelData(data=lab[None])
        out.append(s)
    return out


def _loss_and_grad(head, logits, samples):
    x = logits.clone().requires_grad_()
    out = head.loss_by_feat(x, samples)
    out['loss_ce'].backward()
    return float(out['loss_ce']), float(out['acc_seg']), x.grad


CASES = [  # logits (B, C, h, w), label size, align_corners, avg_non_ignore, loss_weight
    ((2, 19, 16, 16), (64, 64), False, False, 1.0),  # the configs' case: x4, mean over all pixels
    ((2, 7, 13, 17), (50, 61), True, True, 0.4),  # another ratio, the other options
]


@pytest.mark.parametrize('shape,size,align_corners,avg_non_ignore,weight', CASES)
def test_fused_loss_is_mmseg_loss(shape, size, align_corners, avg_non_ignore, weight):
    torch.manual_seed(0)
    labels = torch.randint(0, shape[1], (shape[0], *size))
    labels[0, : size[0] // 3] = 255  # an ignored band
    labels[1] = 255 if avg_non_ignore else labels[1]  # and an image with no label at all
    samples = _samples(labels)
    official = _head(shape[1], align_corners, avg_non_ignore=avg_non_ignore, loss_weight=weight)
    fused = set_fused(copy.deepcopy(official), True)
    assert computation(fused)['fused_loss'] is True and computation(official)['fused_loss'] is False
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, FLOAT32_TOLERANCE)):
        logits = 3 * torch.randn(shape, dtype=dtype)
        loss_o, acc_o, grad_o = _loss_and_grad(official.to(dtype), logits, samples)
        loss_f, acc_f, grad_f = _loss_and_grad(fused.to(dtype), logits, samples)
        assert abs(loss_o - loss_f) <= tol * abs(loss_o), (dtype, loss_o, loss_f)
        assert acc_o == pytest.approx(acc_f, abs=1e-4) and 0 < acc_o < 100
        assert (grad_o - grad_f).abs().max() <= tol * grad_o.abs().max(), dtype
        assert grad_f.abs().max() > 0


def test_a_loss_without_the_fused_form_stays_mmseg():
    """Class weights (and sigmoid, mask, several losses, a pixel sampler) keep mmseg's loss."""
    head = set_fused(_head(5, False, class_weight=[1.0, 2.0, 1.0, 1.0, 1.0]), True)
    assert 'loss_by_feat' not in head.__dict__ and computation(head)['fused_loss'] is None
