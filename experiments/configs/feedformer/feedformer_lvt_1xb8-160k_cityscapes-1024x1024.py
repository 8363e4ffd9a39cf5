_base_ = ['./feedformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', '../_base_/models/lvt.py']
# FeedFormer's lvt class passes no drop-path rate: 0.0 (U-MixFormer-LVT inherits 0.1).
model = dict(backbone={{_base_.feedformer_lvt_backbone}}, decode_head=dict(in_channels=[64, 64, 160, 256]))
