# Ablation (ADE20K, MiT-B0): final fuse (embed_dim) 256 wide.
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(channels=256))
