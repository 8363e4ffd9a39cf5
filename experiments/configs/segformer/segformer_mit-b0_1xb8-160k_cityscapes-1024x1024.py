# SegFormer baseline: mmsegmentation's own config, unchanged.
_base_ = ['mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py']
randomness = dict(seed=0)
train_dataloader = dict(batch_size=8)  # SegFormer's global 8 (8 GPUs x 1) in one process
