# Ablation (ADE20K, MiT-B0), this project's variant (no official counterpart): self-attention only.
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(attention_type='self'))
