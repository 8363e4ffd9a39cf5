# U-MixFormer, MiT-B0, Cityscapes: 1024x1024 crops, batch 8, slide inference
# (crop 1024, stride 768). The Cityscapes head pools keys/values to stride 64
# and queries by 2 inside the attention.
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',
    '../_base_/umixformer_runtime.py'
]
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    decode_head=dict(
        _delete_=True,
        type='UMixFormerHead',
        in_channels=[32, 64, 160, 256],
        in_index=[0, 1, 2, 3],
        channels=128,
        num_heads=(8, 5, 2, 1),
        kv_stride=64,  # pool ratios (2, 4, 8, 16)
        query_pool=2,
        kv_norm=True,
        attention_type='mix',
        kv_sources='all',
        unet=True,
        mlp_ratio=4,
        drop_path_rate=0.1,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
train_dataloader = dict(batch_size=8, num_workers=4)
