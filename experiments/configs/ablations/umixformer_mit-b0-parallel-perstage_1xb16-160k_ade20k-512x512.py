# Ablation (ADE20K, MiT-B0), this project's variant (no official counterpart): no U-Net
# chaining, every stage pools the encoder features with its own convs and fuses D1.
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(unet=False))
