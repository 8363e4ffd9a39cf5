# U-MixFormer, MiT-B0, ADE20K 512x512. Global batch 16 (one process x 16, the
# official per-process value; see the registry for the batch-size note).
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    '../_base_/umixformer_runtime.py', '../_base_/models/umixformer_head.py'
]
model = dict(decode_head={{_base_.umixformer_head}})
train_dataloader = dict(batch_size=16, num_workers=4)
