# Ablation (ADE20K, MiT-B0): single previous-stage key/value, the official
# APFormerHeadSingle (official-runs.md 3.3): stage 4 attends to a 1x1-conv'd E4, stage 3 to
# the raw D4 (its conv's output is overwritten upstream), stages 2 and 1 to the pooled,
# conv'd D3 and D2. The stage's own feature is not a key/value except at stage 4.
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(kv_sources='single', kv_unpooled_conv=(True, False, False, False)))
