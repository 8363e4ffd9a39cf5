# Ablation (ADE20K, MiT-B0): each stage mixes itself and its adjacent stages only; equal
# to the official APFormerHead2_rebuttal (2ed869b, official-runs.md 3.4).
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(kv_sources='adjacent'))
