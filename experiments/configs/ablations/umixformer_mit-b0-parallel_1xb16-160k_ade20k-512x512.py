# Ablation (ADE20K, MiT-B0): parallel decoder as the authors ran it, the official
# APFormerHead (official-runs.md 3.2): one key/value set pooled once from E4..E1 serves
# every stage; D1 is computed there but discarded and the raw E1 is fused, so stage 1
# is not decoded here (same function, no dead block).
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(unet=False, shared_kv=True, decoded_stages=(4, 3, 2)))
