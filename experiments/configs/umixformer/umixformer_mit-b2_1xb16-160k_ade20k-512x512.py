_base_ = ['./umixformer_mit-b0_1xb16-160k_ade20k-512x512.py', '../_base_/models/mit.py']
model = dict(backbone={{_base_.mit_b2}}, decode_head=dict(in_channels=[64, 128, 320, 512], channels=768))
