# embed_dim 128 on Cityscapes for MiT-B3..B5, as the official configs have it.
_base_ = ['./umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py']
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b3_20220624-13b1141c.pth'  # noqa
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
        embed_dims=64,
        num_layers=[3, 4, 18, 3]),
    decode_head=dict(in_channels=[64, 128, 320, 512], channels=128))
