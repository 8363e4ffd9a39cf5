# SegFormer baseline: mmsegmentation's own config, unchanged.
_base_ = ['mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py']
randomness = dict(seed=0)
