# Lite Vision Transformer (Yang et al., CVPR 2022). Its ImageNet checkpoint is
# not on any hub: place it at pretrained/lvt_imagenet.pth.tar or override init_cfg.
lvt_backbone = dict(
    _delete_=True,
    type='LVT',
    embed_dims=(64, 64, 160, 256),
    num_heads=(2, 2, 5, 8),
    num_layers=(2, 2, 2, 2),
    mlp_ratios=(4, 8, 4, 4),
    mlp_depthwise=(False, True, True, True),
    sr_ratios=(8, 4, 2, 1),
    atrous_rates=(1, 3, 5),
    recursions=2,
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint='pretrained/lvt_imagenet.pth.tar'))
