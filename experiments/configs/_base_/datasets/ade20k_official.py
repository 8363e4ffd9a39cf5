# ADE20K pipelines of the official U-MixFormer runs (official-runs.md 1.2), as named
# variables so that configs built on mmseg's own files can take them without a clash:
#   val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_eval_512}}))
# EA512: Resize (2048, 512) keeping the ratio, then ResizeToMultiple 32 (each side
# rounded up to a multiple of 32, bilinear), then the labels at their original size.
# The fork added ResizeToMultiple on 2023-08-06 (77caff5); stock mmseg 1.2.2 has no such
# step (run a row with `pipeline = "mmseg-stock"` to measure without it). SegFormer's,
# FeedFormer's and SegNeXt's own releases resize to a multiple of 32 as well.
ade20k_eval_512 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
# TA640 / EA640 of the official B5 640 configs: scale (2048, 640) for training and
# evaluation (not the (2560, 640) of mmseg's ade20k_640x640.py), ResizeToMultiple kept.
ade20k_train_640 = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2048, 640), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(640, 640), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
ade20k_eval_640 = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 640), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
