# Ablation (ADE20K, MiT-B0): self-attention: each stage attends to its own feature only.
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(attention_type='self'))
