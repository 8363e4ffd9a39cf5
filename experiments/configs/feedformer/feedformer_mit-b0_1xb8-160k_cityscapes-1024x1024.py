# FeedFormer (Shim et al., AAAI 2023), MiT-B0, Cityscapes 1024x1024, trained with
# the same recipe as U-MixFormer (FeedFormer's own: AdamW 6e-5, head lr x10, 1500 warm-up,
# poly 1.0, 160k, global batch 16 ADE20K / 8 Cityscapes). The head is the original
# jhshim1995/FeedFormer@627644c one (official-runs.md 4.1), not the fork's reordered block. Its Cityscapes head (official FeedFormerHeadCity)
# pools queries by 2 and E1 twice as much as the ADE20K head.
_base_ = ['../umixformer/umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py']
model = dict(
    decode_head=dict(
        type='FeedFormerHead',
        num_heads=(8, 5, 2, 1),  # the last entry is unused (E1 is not decoded)
        kv_sources=((1, ), (1, ), (1, )),
        decoded_stages=(4, 3, 2),
        kv_stride=(64, 32, 16),
        query_pool=2,
        kv_norm=False,
        attention_type='cross',
        kv_pre_norm=True,
        pre_norm=True,  # the original FeedFormer block (pre-norm residuals)
        ceil_mode=False,  # nn.AvgPool2d defaults (floor), as the original
        unet=False))
