# U-MixFormer, MiT-B0, ADE20K 512x512 (official umixformer_mit-b0_8xb2-160k_ade20k-512x512.py).
# Per-process batch 16, the official value; this suite runs one process (global batch 16,
# see docs/fidelity.md). Evaluation: the official EA512 pipeline (ResizeToMultiple 32).
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    '../_base_/umixformer_runtime.py', '../_base_/models/umixformer_head.py',
    '../_base_/datasets/ade20k_official.py'
]
model = dict(decode_head={{_base_.umixformer_head}})
train_dataloader = dict(batch_size=16, num_workers=4)
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_eval_512}}))
test_dataloader = val_dataloader
