# MiT encoders B1..B5 (SegFormer) as overrides of the B0 settings in the model
# configs: model = dict(backbone={{_base_.mit_b2}}). Checkpoints: mmsegmentation's.
_ckpt = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/'
mit_b1 = dict(init_cfg=dict(type='Pretrained', checkpoint=_ckpt + 'mit_b1_20220624-02e5a6a1.pth'),
              embed_dims=64, num_layers=[2, 2, 2, 2])
mit_b2 = dict(init_cfg=dict(type='Pretrained', checkpoint=_ckpt + 'mit_b2_20220624-66e8bf70.pth'),
              embed_dims=64, num_layers=[3, 4, 6, 3])
mit_b3 = dict(init_cfg=dict(type='Pretrained', checkpoint=_ckpt + 'mit_b3_20220624-13b1141c.pth'),
              embed_dims=64, num_layers=[3, 4, 18, 3])
mit_b4 = dict(init_cfg=dict(type='Pretrained', checkpoint=_ckpt + 'mit_b4_20220624-d588d980.pth'),
              embed_dims=64, num_layers=[3, 8, 27, 3])
mit_b5 = dict(init_cfg=dict(type='Pretrained', checkpoint=_ckpt + 'mit_b5_20220624-658746d9.pth'),
              embed_dims=64, num_layers=[3, 6, 40, 3])
