_base_ = ['./feedformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py', '../_base_/models/mit.py']
model = dict(backbone={{_base_.mit_b2}}, decode_head=dict(in_channels=[64, 128, 320, 512], channels=768))
