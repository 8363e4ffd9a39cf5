# U-MixFormer, MiT-B0, ADE20K 512x512. Global batch 16 (one process x 16, the
# official per-process value; see the registry for the batch-size note).
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    '../_base_/umixformer_runtime.py'
]
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    decode_head=dict(
        _delete_=True,
        type='UMixFormerHead',
        in_channels=[32, 64, 160, 256],
        in_index=[0, 1, 2, 3],
        channels=128,  # fuse embed_dim
        num_heads=(8, 5, 2, 1),
        kv_stride=32,  # pool ratios (1, 2, 4, 8)
        query_pool=1,
        kv_norm=False,
        attention_type='mix',
        kv_sources='all',
        unet=True,
        mlp_ratio=4,
        drop_path_rate=0.1,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
train_dataloader = dict(batch_size=16, num_workers=4)
