# The U-MixFormer decode head, ADE20K and Cityscapes variants (one implementation:
# UMixFormerHead). Used as model = dict(decode_head={{_base_.umixformer_head}}).
umixformer_head = dict(
    _delete_=True,
    type='UMixFormerHead',
    in_channels=[32, 64, 160, 256],
    in_index=[0, 1, 2, 3],
    channels=128,  # fuse embed_dim
    num_heads=(8, 5, 2, 1),  # deepest stage first
    kv_stride=32,  # keys/values at stride 32: pool ratios (1, 2, 4, 8)
    query_pool=1,
    kv_norm=False,
    attention_type='mix',
    kv_sources='all',
    unet=True,
    mlp_ratio=4,
    drop_path_rate=0.1,
    dropout_ratio=0.1,
    num_classes=150,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    align_corners=False,
    loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
# Cityscapes: keys/values at stride 64 (pool ratios 2, 4, 8, 16), queries pooled
# by 2 inside the attention, an own LayerNorm on the keys/values.
umixformer_head_cityscapes = dict(umixformer_head, kv_stride=64, query_pool=2, kv_norm=True, num_classes=19)
