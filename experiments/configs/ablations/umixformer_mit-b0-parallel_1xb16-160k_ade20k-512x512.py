# Ablation (ADE20K, MiT-B0): no U-Net chaining: every stage mixes the encoder features (decoded in parallel).
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(unet=False))
