# MSCAN encoders of SegNeXt (mmsegmentation's settings) for use in other heads'
# configs: model = dict(backbone={{_base_.mscan_t_backbone}}).
mscan_t_backbone = dict(
    _delete_=True,
    type='MSCAN',
    init_cfg=dict(
        type='Pretrained',
        checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segnext/mscan_t_20230227-119e8c9f.pth'),  # noqa
    embed_dims=[32, 64, 160, 256],
    mlp_ratios=[8, 8, 4, 4],
    drop_rate=0.0,
    drop_path_rate=0.1,
    depths=[3, 3, 5, 2],
    attention_kernel_sizes=[5, [1, 7], [1, 11], [1, 21]],
    attention_kernel_paddings=[2, [0, 3], [0, 5], [0, 10]],
    act_cfg=dict(type='GELU'),
    norm_cfg=dict(type='BN', requires_grad=True))
mscan_s_backbone = dict(
    mscan_t_backbone,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segnext/mscan_s_20230227-f33ccdf2.pth'),  # noqa
    embed_dims=[64, 128, 320, 512],
    depths=[2, 2, 4, 2])
