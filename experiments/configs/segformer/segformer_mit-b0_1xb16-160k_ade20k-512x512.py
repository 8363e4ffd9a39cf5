# SegFormer baseline: mmsegmentation's own config, evaluated with the official ADE20K
# pipeline (ResizeToMultiple 32, as SegFormer's own AlignedResize protocol).
_base_ = ['../_base_/datasets/ade20k_official.py', 'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py']
randomness = dict(seed=0)
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_eval_512}}))
test_dataloader = val_dataloader
train_dataloader = dict(batch_size=16)  # SegFormer's global 16 (8 GPUs x 2) in one process
