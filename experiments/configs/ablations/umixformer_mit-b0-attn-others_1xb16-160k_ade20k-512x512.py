# Ablation (ADE20K, MiT-B0): cross-attention to the other stages, decoded in parallel: the
# class APFormerHeadMulti as it was between fedaa81 and f3f7a1a (official-runs.md 3.6), the
# candidate for the paper's cross-attention row (which head produced it: UNKNOWN).
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(kv_sources='others', unet=False))
