"""The decode head's loss as one fused computation: the same function as mmseg's
``BaseDecodeHead.loss_by_feat`` with a single ``CrossEntropyLoss`` (bilinear resize of the
logits to the label's size, per-pixel cross-entropy with ``ignore_index``, mean over the
pixels, top-1 ``acc_seg``), computed without keeping the full-resolution logits.

Why: at 512x512 with 150 classes the official loss is half of a CPU training step. Its
autograd graph keeps the resized logits and their log-softmax (2 x 79 M floats for a
batch of 2), runs the log-softmax and its backward over the class dimension of NCHW
tensors (strided), and copies the full-resolution gradient before the resize's
backward. Here the forward computes the loss, ``acc_seg`` and the gradient of the logits
in one pass over channels-last tensors (classes contiguous): softmax minus one-hot,
resized back with the resize's own backward, and keeps only that low-resolution gradient.
``tests/test_fused_loss.py`` (the loss alone) and ``tests/test_fused_training.py`` (a
training step) check loss and gradients against the official computation (float64: to
rounding)."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

_EPS = torch.finfo(torch.float32).eps  # mmseg's guard in the mean and in accuracy()


class _ResizedCrossEntropy(torch.autograd.Function):
    """(summed loss / denominator, acc_seg) of logits (B, C, h, w) against labels (B, H, W)."""

    @staticmethod
    def forward(ctx, logits, label, ignore_index: int, align_corners: bool, avg_non_ignore: bool):
        b, c, h, w = logits.shape
        size = list(label.shape[1:])
        # half precision computes in float32, as autocast runs the official cross-entropy
        x = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
        up = F.interpolate(x.contiguous(memory_format=torch.channels_last), size=size, mode='bilinear',
                           align_corners=align_corners)
        u = up.permute(0, 2, 3, 1)  # (B, H, W, C), contiguous: a pixel's classes side by side
        valid = (label != ignore_index).unsqueeze(-1)
        target = label.long().unsqueeze(-1).masked_fill(~valid, 0)  # gather's index type
        weight = valid.to(u.dtype)
        top = u.amax(-1, keepdim=True)
        picked = u.gather(-1, target)
        correct = ((picked >= top) & valid).sum()
        u.sub_(top).exp_()
        total = u.sum(-1, keepdim=True)
        nll = total.log() - (picked - top)  # logsumexp - logit of the label
        u.mul_(weight / total)  # softmax at the valid pixels ...
        u.scatter_add_(-1, target, -weight)  # ... minus one-hot: d(nll)/d(resized logits)
        grad = torch.ops.aten.upsample_bilinear2d_backward(up, size, [b, c, h, w], align_corners)
        n_valid = int(valid.sum())
        denom = (n_valid if avg_non_ignore else label.numel()) + _EPS
        # in the logits' own dtype and layout: the head's backward gets what mmseg's loss gives it
        ctx.save_for_backward(torch.empty_like(logits).copy_(grad.div_(denom)))
        loss = (nll * weight).sum() / denom
        acc = (correct.float() + _EPS).reshape(1) * (100.0 / (n_valid + _EPS))
        ctx.mark_non_differentiable(acc)
        return loss.to(logits.dtype), acc

    @staticmethod
    def backward(ctx, grad_loss, grad_acc):
        grad, = ctx.saved_tensors
        return grad * grad_loss, None, None, None, None


@torch.compiler.disable  # eager under --train-compile: it is one pass already (backward included)
def resized_cross_entropy(logits: torch.Tensor, label: torch.Tensor, ignore_index: int = 255,
                          align_corners: bool = False, avg_non_ignore: bool = False
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
    """(loss, acc_seg) as mmseg computes them from ``logits`` (B, C, h, w) resized to the size
    of ``label`` (B, H, W): ``CrossEntropyLoss`` (mean over all pixels, or over the labelled
    ones with ``avg_non_ignore``; weight 1) and ``accuracy`` (top-1, percent)."""
    return _ResizedCrossEntropy.apply(logits, label, ignore_index, align_corners, avg_non_ignore)


def _single_cross_entropy(head: nn.Module):
    """The head's loss module if it is one plain ``CrossEntropyLoss`` (no class weights,
    sigmoid, mask or pixel sampler), else None: only that loss has the fused form."""
    from mmseg.models.losses import CrossEntropyLoss
    loss = head.loss_decode
    if isinstance(loss, nn.ModuleList):
        loss = loss[0] if len(loss) == 1 else None
    plain = (isinstance(loss, CrossEntropyLoss) and not loss.use_sigmoid and not loss.use_mask
             and loss.class_weight is None and loss.reduction == 'mean'
             and getattr(head, 'sampler', None) is None)
    return loss if plain else None


def fusable_heads(model: nn.Module) -> list:
    """The decode heads of ``model`` whose loss has the fused form."""
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    return [m for m in model.modules() if isinstance(m, BaseDecodeHead) and _single_cross_entropy(m) is not None]


def fused_loss_by_feat(self, seg_logits: torch.Tensor, batch_data_samples) -> dict:
    """``BaseDecodeHead.loss_by_feat`` for a head with one plain ``CrossEntropyLoss``,
    fused (bound to the head instance by ``umixformer.optimize.set_fused``)."""
    ce = _single_cross_entropy(self)
    label = self._stack_batch_gt(batch_data_samples).squeeze(1)
    loss, acc = resized_cross_entropy(seg_logits, label, self.ignore_index, self.align_corners, ce.avg_non_ignore)
    return {ce.loss_name: ce.loss_weight * loss, 'acc_seg': acc}
