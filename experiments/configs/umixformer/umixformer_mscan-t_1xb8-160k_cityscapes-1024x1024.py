_base_ = ['./umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', '../_base_/models/mscan.py']
model = dict(backbone={{_base_.mscan_t_backbone}}, decode_head=dict(in_channels=[32, 64, 160, 256]))
