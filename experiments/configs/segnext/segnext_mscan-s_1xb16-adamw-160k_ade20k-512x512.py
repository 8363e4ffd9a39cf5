# SegNeXt baseline: mmsegmentation's own config, evaluated as SegNeXt's release did
# (Resize + ResizeToMultiple 32: Visual-Attention-Network/SegNeXt@f58133c,
# local_configs/_base_/datasets/ade20k_repeat.py); mmseg's own test padding to 32 is then a no-op.
_base_ = ['../_base_/datasets/ade20k_official.py', 'mmseg::segnext/segnext_mscan-s_1xb16-adamw-160k_ade20k-512x512.py']
randomness = dict(seed=0)
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_eval_512}}))
test_dataloader = val_dataloader
