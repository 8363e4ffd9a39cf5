# SegFormer baseline: mmsegmentation's config with the SegFormer paper's
# 768-wide MLP decoder for MiT-B2..B5 (mmsegmentation's configs keep 256,
# which gives 24.7 M / 25.9 GFLOPs for B2 instead of the paper's 27.5 M / 62.4).
_base_ = ['mmseg::segformer/segformer_mit-b2_8xb1-160k_cityscapes-1024x1024.py']
model = dict(decode_head=dict(channels=768))
randomness = dict(seed=0)
train_dataloader = dict(batch_size=8)  # SegFormer's global 8 (8 GPUs x 1) in one process
