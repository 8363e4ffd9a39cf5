# embed_dim 128 on Cityscapes for MiT-B3..B5, as the official configs have it.
_base_ = ['./umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', '../_base_/models/mit.py']
model = dict(backbone={{_base_.mit_b5}}, decode_head=dict(in_channels=[64, 128, 320, 512], channels=128))
