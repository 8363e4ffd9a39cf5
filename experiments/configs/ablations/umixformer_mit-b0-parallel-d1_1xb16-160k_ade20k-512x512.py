# Ablation (ADE20K, MiT-B0): the official parallel decoder corrected: one shared key/value
# set as APFormerHead, but D1 is fused instead of the raw E1 (what the paper describes).
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(unet=False, shared_kv=True))
