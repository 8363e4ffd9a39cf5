# FeedFormer (Shim et al., AAAI 2023), MiT-B0, ADE20K 512x512, trained with
# the same recipe as U-MixFormer (FeedFormer's own: AdamW 6e-5, head lr x10, 1500 warm-up,
# poly 1.0, 160k, global batch 16 ADE20K / 8 Cityscapes). The head is the original
# jhshim1995/FeedFormer@627644c one (official-runs.md 4.1), not the fork's reordered block.
_base_ = ['../umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(
    decode_head=dict(
        type='FeedFormerHead',
        num_heads=(8, 5, 2, 1),  # the last entry is unused (E1 is not decoded)
        kv_sources=((1, ), (1, ), (1, )),
        decoded_stages=(4, 3, 2),
        kv_stride=(32, 16, 8),
        attention_type='cross',
        kv_pre_norm=True,
        pre_norm=True,  # the original FeedFormer block (pre-norm residuals)
        ceil_mode=False,  # nn.AvgPool2d defaults (floor), as the original
        unet=False))
