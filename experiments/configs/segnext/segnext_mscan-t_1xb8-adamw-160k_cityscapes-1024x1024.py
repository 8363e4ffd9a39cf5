# SegNeXt-T on Cityscapes. mmsegmentation ships SegNeXt configs for ADE20K only:
# this puts its model (MSCAN-T + LightHamHead) into the SegFormer Cityscapes
# recipe used by every Cityscapes row here (1024x1024 crops, slide inference).
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',
    '../_base_/models/mscan.py'
]
ham_norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    backbone={{_base_.mscan_t_backbone}},
    decode_head=dict(
        _delete_=True,
        type='LightHamHead',
        in_channels=[64, 160, 256],
        in_index=[1, 2, 3],
        channels=256,
        ham_channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=ham_norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        ham_kwargs=dict(MD_S=1, MD_R=16, train_steps=6, eval_steps=7, inv_t=100, rand_init=True)))
train_dataloader = dict(batch_size=8)
randomness = dict(seed=0)
