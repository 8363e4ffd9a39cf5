# SegNeXt baseline: mmsegmentation's own config, unchanged.
_base_ = ['mmseg::segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py']
randomness = dict(seed=0)
