# SegFormer baseline: mmsegmentation's own config, unchanged.
_base_ = ['mmseg::segformer/segformer_mit-b1_8xb2-160k_ade20k-512x512.py']
randomness = dict(seed=0)
