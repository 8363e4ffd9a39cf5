# SegFormer baseline: mmsegmentation's config with the SegFormer paper's
# 768-wide MLP decoder for MiT-B2..B5 (mmsegmentation's configs keep 256,
# which gives 24.7 M / 25.9 GFLOPs for B2 instead of the paper's 27.5 M / 62.4).
_base_ = ['../_base_/datasets/ade20k_official.py', 'mmseg::segformer/segformer_mit-b2_8xb2-160k_ade20k-512x512.py']
model = dict(decode_head=dict(channels=768))
randomness = dict(seed=0)
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_eval_512}}))
test_dataloader = val_dataloader
train_dataloader = dict(batch_size=16)  # SegFormer's global 16 (8 GPUs x 2) in one process
