# U-MixFormer, MiT-B0, Cityscapes: 1024x1024 crops, batch 8, slide inference
# (crop 1024, stride 768), the Cityscapes head.
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',
    '../_base_/umixformer_runtime.py', '../_base_/models/umixformer_head.py'
]
model = dict(decode_head={{_base_.umixformer_head_cityscapes}})
train_dataloader = dict(batch_size=8, num_workers=4)
