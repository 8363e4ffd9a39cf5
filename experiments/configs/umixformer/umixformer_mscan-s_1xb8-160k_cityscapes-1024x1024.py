# U-MixFormer-S: MSCAN-S with the 128-wide fuse (its published cost fits 128 only).
_base_ = ['./umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', '../_base_/models/mscan.py']
model = dict(backbone={{_base_.mscan_s_backbone}}, decode_head=dict(in_channels=[64, 128, 320, 512]))
