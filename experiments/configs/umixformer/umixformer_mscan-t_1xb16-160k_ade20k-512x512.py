_base_ = ['./umixformer_mit-b0_1xb16-160k_ade20k-512x512.py', '../_base_/models/mscan.py']
model = dict(backbone={{_base_.mscan_t_backbone}}, decode_head=dict(in_channels=[32, 64, 160, 256]))
