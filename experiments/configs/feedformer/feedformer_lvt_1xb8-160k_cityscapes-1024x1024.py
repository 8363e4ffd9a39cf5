_base_ = ['./feedformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', '../_base_/models/lvt.py']
model = dict(backbone={{_base_.lvt_backbone}}, decode_head=dict(in_channels=[64, 64, 160, 256]))
