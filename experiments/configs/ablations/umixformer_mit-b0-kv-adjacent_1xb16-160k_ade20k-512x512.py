# Ablation (ADE20K, MiT-B0): mix of the stage and its adjacent stages only.
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(kv_sources='adjacent'))
