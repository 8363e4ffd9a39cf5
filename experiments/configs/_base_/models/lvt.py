# Lite Vision Transformer (Yang et al., CVPR 2022) as the official U-MixFormer-LVT configs
# resolve it (official-runs.md 5): drop_path_rate 0.1 (inherited from segformer_mit-b0.py),
# no stage-output norm. Its ImageNet checkpoint is not on any hub: the official configs read
# ./checkpoints/classification/lvt_imagenet_pretrained.pth.tar (FeedFormer's release) and
# load it strictly; so does LVT.init_weights here (a partial match is an error naming keys).
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
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/classification/lvt_imagenet_pretrained.pth.tar'))
# FeedFormer's own lvt class passes no drop-path rate (0.0); FeedFormer-LVT rows use this.
feedformer_lvt_backbone = dict(lvt_backbone, drop_path_rate=0.0)
