# U-MixFormer-dagger on MiT-B5 (40 stage-3 blocks, taps every 6: 6 taps), 640x640.
_base_ = ['./umixformer_mit-b5_1xb16-160k_ade20k-640x640.py']
model = dict(
    backbone=dict(type='MixVisionTransformerTaps', tap_stage=2, tap_interval=6),
    decode_head=dict(
        in_channels=[64, 128, 320, 512, 320, 320, 320, 320, 320, 320],
        in_index=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
