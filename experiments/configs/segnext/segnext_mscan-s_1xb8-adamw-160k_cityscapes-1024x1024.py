_base_ = ['./segnext_mscan-t_1xb8-adamw-160k_cityscapes-1024x1024.py']
model = dict(
    backbone={{_base_.mscan_s_backbone}},
    decode_head=dict(in_channels=[128, 320, 512]))
