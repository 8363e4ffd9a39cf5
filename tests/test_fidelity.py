"""Every runnable row runs what the authors ran (official-runs.md): the resolved config of
each row against an expectation table written from the spec, the optimizer's parameter
groups as mmengine builds them, strict LVT loading, torch.compile reaching the head, the
stock-pipeline option and the Cityscapes-C protocols."""
import os

import numpy as np
import pytest
import torch

from conftest import CONFIG_DIR
from experiments.data.pipelines import apply_pipeline
from experiments.registry.profiles import get_profile, apply_profile
from experiments.registry.tables import load_registry

MIT_URL = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/'
SNX_URL = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segnext/'
ENCODERS = {  # encoder -> (type, drop_path_rate, pretrained checkpoint)  [spec 1.3, 5]
    'MiT-B0': ('MixVisionTransformer', 0.1, MIT_URL + 'mit_b0_20220624-7e0fe6dd.pth'),
    'MiT-B1': ('MixVisionTransformer', 0.1, MIT_URL + 'mit_b1_20220624-02e5a6a1.pth'),
    'MiT-B2': ('MixVisionTransformer', 0.1, MIT_URL + 'mit_b2_20220624-66e8bf70.pth'),
    'MiT-B3': ('MixVisionTransformer', 0.1, MIT_URL + 'mit_b3_20220624-13b1141c.pth'),
    'MiT-B4': ('MixVisionTransformer', 0.1, MIT_URL + 'mit_b4_20220624-d588d980.pth'),
    'MiT-B5': ('MixVisionTransformer', 0.1, MIT_URL + 'mit_b5_20220624-658746d9.pth'),
    'MSCAN-T': ('MSCAN', 0.1, SNX_URL + 'mscan_t_20230227-119e8c9f.pth'),
    'MSCAN-S': ('MSCAN', 0.1, SNX_URL + 'mscan_s_20230227-f33ccdf2.pth'),
    'LVT': ('LVT', 0.1, 'checkpoints/classification/lvt_imagenet_pretrained.pth.tar'),
}
TA512 = ['LoadImageFromFile', 'LoadAnnotations(reduce_zero_label=True)',
         'RandomResize(scale=(2048, 512), ratio_range=(0.5, 2.0))', 'RandomCrop(crop_size=(512, 512), cat_max_ratio=0.75)',
         'RandomFlip(prob=0.5)', 'PhotoMetricDistortion', 'PackSegInputs']
EA512 = ['LoadImageFromFile', 'Resize(scale=(2048, 512))', 'ResizeToMultiple(size_divisor=32)',
         'LoadAnnotations(reduce_zero_label=True)', 'PackSegInputs']
TA640 = [t.replace('512', '640') for t in TA512]
EA640 = [t.replace('512', '640') for t in EA512]
TC1024 = ['LoadImageFromFile', 'LoadAnnotations', 'RandomResize(scale=(2048, 1024), ratio_range=(0.5, 2.0))',
          'RandomCrop(crop_size=(1024, 1024), cat_max_ratio=0.75)', 'RandomFlip(prob=0.5)',
          'PhotoMetricDistortion', 'PackSegInputs']
EC = ['LoadImageFromFile', 'Resize(scale=(2048, 1024))', 'LoadAnnotations', 'PackSegInputs']
# U-MixFormer fuse width (spec 1.4): 768 for B2 on both datasets and B3-B5 on ADE20K
WIDE = {('MiT-B2', 'ade20k'), ('MiT-B2', 'cityscapes'), ('MiT-B3', 'ade20k'), ('MiT-B4', 'ade20k'),
        ('MiT-B5', 'ade20k')}
# ablation rows -> the official head they reproduce (None: this project's own variant)
ABLATION_HEADS = {'parallel': 'APFormerHead', 'kv-single': 'APFormerHeadSingle',
                  'kv-adjacent': 'APFormerHead2_rebuttal', 'attn-others': 'APFormerHeadMulti@fedaa81',
                  'parallel-d1': None, 'parallel-perstage': None, 'kv-previous': None, 'attn-self': None,
                  'attn-cross': None, 'fuse-256': 'APFormerHead2', 'fuse-768': 'APFormerHead2'}
TABLES = ('table1', 'table2', 'ablation_attention', 'ablation_fuse', 'ablation_kv', 'ablation_unet')


def _transform(t) -> str:
    keys = {'LoadAnnotations': ('reduce_zero_label', ), 'RandomResize': ('scale', 'ratio_range'),
            'RandomCrop': ('crop_size', 'cat_max_ratio'), 'RandomFlip': ('prob', ), 'Resize': ('scale', ),
            'ResizeToMultiple': ('size_divisor', )}.get(t['type'], ())
    args = [f'{k}={tuple(t[k]) if isinstance(t[k], list) else t[k]}' for k in keys if t.get(k) is not None]
    if t['type'] == 'Resize':
        assert t.get('keep_ratio') is True, t
    return t['type'] + (f'({", ".join(args)})' if args else '')


def resolved(row):
    from umixformer.complexity import load_config
    cfg = apply_pipeline(apply_profile(load_config(row.config), get_profile('paper'), row.dataset, '/data', 0),
                         row.pipeline)
    bb, head = cfg.model.backbone, cfg.model.decode_head
    opt = cfg.optim_wrapper
    warm, poly = cfg.param_scheduler
    return {
        'train pipeline': [_transform(t) for t in cfg.train_dataloader.dataset.pipeline],
        'test pipeline': [_transform(t) for t in cfg.test_dataloader.dataset.pipeline],
        'val pipeline': [_transform(t) for t in cfg.val_dataloader.dataset.pipeline],
        'test mode': dict(cfg.model.test_cfg),
        'crop': tuple(cfg.model.data_preprocessor.size),
        'batch per process': cfg.train_dataloader.batch_size,
        'iterations': (cfg.train_cfg.type, cfg.train_cfg.max_iters, cfg.train_cfg.val_interval),
        'optimizer': (opt.optimizer.type, opt.optimizer.lr, tuple(opt.optimizer.betas), opt.optimizer.weight_decay,
                      opt.get('clip_grad')),
        'paramwise': {k: dict(v) for k, v in opt.paramwise_cfg.custom_keys.items()},
        'warm-up': (warm.type, warm.start_factor, warm.begin, warm.end),
        'poly': (poly.type, poly.power, poly.eta_min, poly.begin, poly.end),
        'loss': (head.loss_decode.type, head.loss_decode.use_sigmoid, head.loss_decode.loss_weight),
        'encoder': (bb.type.replace('MixVisionTransformerTaps', 'MixVisionTransformer'), bb.drop_path_rate,
                    (bb.get('init_cfg') or {}).get('checkpoint')),
        'head type': head.type,
        'fuse width': head.channels,
        'seed': cfg.randomness.seed,
        'find_unused_parameters': cfg.get('find_unused_parameters', False),
        '_cfg': cfg,
    }


def expected(row):
    ade = row.dataset == 'ade20k'
    b5_640 = '640x640' in os.path.basename(row.config)
    enc = ENCODERS[row.encoder]
    folder = os.path.basename(os.path.dirname(row.config))
    family = {'umixformer': 'umix', 'ablations': 'umix', 'feedformer': 'feed', 'segformer': 'segformer',
              'segnext': 'segnext'}[folder]
    if family == 'feed' and row.encoder == 'LVT':
        enc = (enc[0], 0.0, enc[2])  # FeedFormer's lvt passes no drop-path rate (spec 5)
    exp = {
        'train pipeline': (TA640 if b5_640 else TA512) if ade else TC1024,
        'test pipeline': (EA640 if b5_640 else EA512) if ade else EC,
        'test mode': dict(mode='whole') if ade else dict(mode='slide', crop_size=(1024, 1024), stride=(768, 768)),
        'crop': (640, 640) if b5_640 else (512, 512) if ade else (1024, 1024),
        'batch per process': 16 if ade else 8,
        'iterations': ('IterBasedTrainLoop', 160000, 16000),
        'optimizer': ('AdamW', 6e-5, (0.9, 0.999), 0.01, None),
        'paramwise': {'pos_block': {'decay_mult': 0.0}, 'norm': {'decay_mult': 0.0}, 'head': {'lr_mult': 10.0}},
        'warm-up': ('LinearLR', 1e-6, 0, 1500),
        'poly': ('PolyLR', 1.0, 0.0, 1500, 160000),
        'loss': ('CrossEntropyLoss', False, 1.0),
        'encoder': enc,
        'seed': 0,
    }
    exp['val pipeline'] = exp['test pipeline']
    if family == 'umix':
        exp.update({'head type': 'UMixFormerHead', 'find_unused_parameters': True,
                    'fuse width': ({'fuse-256': 256, 'fuse-768': 768}.get(row.id) or
                                   (768 if (row.encoder, row.dataset) in WIDE else 128))})
    elif family == 'feed':
        exp.update({'head type': 'FeedFormerHead', 'find_unused_parameters': True,
                    'fuse width': 768 if row.encoder == 'MiT-B2' else 128})
    elif family == 'segformer':  # SegFormer paper: 768-wide decoder for B2-B5, 256 for B0/B1
        exp.update({'head type': 'SegformerHead', 'find_unused_parameters': False,
                    'fuse width': 256 if row.encoder in ('MiT-B0', 'MiT-B1') else 768})
    else:
        exp.update({'head type': 'LightHamHead', 'find_unused_parameters': False, 'fuse width': 256})
    return exp, family


def _rows():
    reg = load_registry()
    return [pytest.param(r, id=f'{t}/{r.id}') for t in TABLES for r in reg[t].runnable()]


@pytest.mark.parametrize('row', _rows())
def test_row_runs_the_official_settings(row):
    got = resolved(row)
    exp, family = expected(row)
    diffs = [f'{row.table}/{row.id}: {k}: expected {v!r}, got {got[k]!r}' for k, v in exp.items() if got[k] != v]
    assert not diffs, '\n'.join(diffs)
    if family in ('umix', 'feed'):
        from umixformer.converters.layouts import match_head
        from umixformer.complexity import build_segmentor
        head = build_segmentor(got['_cfg']).decode_head
        assert tuple(head.blocks[0].drop_path.drop_prob for _ in [0]) == (0.1, )
        if family == 'feed':
            assert head.blocks[0].pre_norm and not head.kv_pools[0].pools[0].ceil_mode
            return
        official = match_head(head)
        want = ABLATION_HEADS.get(row.id, 'APFormerHeadMulti' if 'dagger' in row.id else
                                  'APFormerHead2' if row.dataset == 'ade20k' else 'APFormerHeadCity')
        assert (official.name if official else None) == want, f'{row.table}/{row.id}: head {official}'
        if 'dagger' in row.id:
            assert head.num_taps == (4 if 'b4' in row.id else 6)
        assert [b.attn.num_heads for b in head.blocks] == [8, 5, 2, 1][:len(head.blocks)]


def test_param_groups_as_mmengine_builds_them():
    """Head lr x10 *with* decay on its norms; backbone norms named 'norm' decay 0, the
    MiT stage-end LayerNorms (layers.i.2) and MSCAN stem BNs keep 0.01 (spec 1.1)."""
    from mmengine.optim import build_optim_wrapper
    from umixformer.complexity import build_segmentor, load_config
    for config, checks in [
        ('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py', {
            'decode_head.blocks.0.norm1.weight': (6e-4, 0.01), 'decode_head.fuse.bn.weight': (6e-4, 0.01),
            'decode_head.kv_pools.0.convs.1.bias': (6e-4, 0.01), 'decode_head.conv_seg.weight': (6e-4, 0.01),
            'backbone.layers.0.1.0.norm1.weight': (6e-5, 0.0), 'backbone.layers.0.2.weight': (6e-5, 0.01),
            'backbone.layers.0.0.projection.weight': (6e-5, 0.01)}),
        ('umixformer/umixformer_mscan-t_1xb16-160k_ade20k-512x512.py', {
            'backbone.patch_embed1.proj.1.weight': (6e-5, 0.01), 'backbone.block1.0.norm1.weight': (6e-5, 0.0),
            'decode_head.blocks.3.norm3.bias': (6e-4, 0.01)}),
    ]:
        cfg = load_config(os.path.join(CONFIG_DIR, config))
        model = build_segmentor(cfg, eval_mode=False)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        by_param = {id(p): (g['lr'], g['weight_decay']) for g in wrapper.optimizer.param_groups for p in g['params']}
        names = dict(model.named_parameters())
        for name, (lr, wd) in checks.items():
            got = by_param[id(names[name])]
            assert got == pytest.approx((lr, wd)), f'{config}: {name}: lr/wd {got}, expected {(lr, wd)}'


def test_compile_reaches_the_head():
    """mmseg's inference calls decode_head.predict -> self.forward: the compiled code must be there."""
    from umixformer.complexity import build_segmentor
    from umixformer.optimize import optimize_for_inference
    graphs = []

    def backend(gm, example_inputs):
        graphs.append([n.name for n in gm.graph.nodes])
        return gm.forward

    torch._dynamo.reset()
    model = build_segmentor(os.path.join(CONFIG_DIR, 'umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py'))
    model = optimize_for_inference(model, compile=True, compile_backend=backend)
    meta = [dict(ori_shape=(64, 64), img_shape=(64, 64), pad_shape=(64, 64), padding_size=[0, 0, 0, 0])]
    with torch.no_grad():
        model.inference(torch.randn(1, 3, 64, 64), meta)
    names = [n for g in graphs for n in g]
    assert any('kv_pools' in n for n in names), 'the decode head was not compiled'
    assert any('layers' in n for n in names), 'the backbone was not compiled'


def test_lvt_pretrained_is_loaded_strictly(tmp_path):
    from umixformer.models.backbones import LVT
    from umixformer.models.backbones.lvt import PretrainedMismatchError
    src = LVT(drop_path_rate=0.0)
    good = tmp_path / 'lvt.pth'
    torch.save(src.state_dict(), good)
    net = LVT(init_cfg=dict(type='Pretrained', checkpoint=str(good)))
    net.init_weights()
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), src.state_dict().values()))
    sd = dict(src.state_dict())
    sd['head.weight'] = torch.zeros(1000, 256)  # an ImageNet classifier the backbone lacks
    del sd['backbone.3.1.1.mlp.fc2.bias']
    bad = tmp_path / 'bad.pth'
    torch.save(sd, bad)
    with pytest.raises(PretrainedMismatchError, match=r'missing keys: backbone\.3\.1\.1\.mlp\.fc2\.bias.*'
                       r'unexpected keys: head\.weight'):
        LVT(init_cfg=dict(type='Pretrained', checkpoint=str(bad))).init_weights()
    with pytest.raises(FileNotFoundError, match='absolute path'):
        LVT(init_cfg=dict(type='Pretrained', checkpoint='checkpoints/none.pth')).init_weights()


def test_stock_pipeline_row_shares_the_training(tmp_path):
    """`pipeline = "mmseg-stock"` evaluates without ResizeToMultiple, records it, and
    reuses the official row's training."""
    from experiments.registry.tables import load_table
    from experiments.store import Store
    from experiments.planning.tasks import plan
    from experiments.engine.process.executor import task_settings
    tdir = tmp_path / 'tables'
    tdir.mkdir()
    (tdir / 't.toml').write_text('''name = "t"
title = "t"
[defaults]
stages = ["train", "test"]
[[rows]]
id = "official"
method = "U-MixFormer"
dataset = "ade20k"
config = "umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py"
[[rows]]
id = "stock"
method = "U-MixFormer"
dataset = "ade20k"
config = "umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py"
pipeline = "mmseg-stock"
''')
    table = load_table(str(tdir / 't.toml'))
    tasks = plan(table.rows, None, None, get_profile('paper'), {'ade20k': '/data/ade'}, Store(str(tmp_path)))
    trains = [t for t in tasks if t.stage == 'train']
    tests = {t.row.id: t for t in tasks if t.stage == 'test'}
    assert len(trains) == 1 and trains[0].rows == ['t/official', 't/stock']
    assert tests['official'].key != tests['stock'].key
    assert tests['official'].needs == tests['stock'].needs == trains[0].key
    stock_types = [t['type'] for t in tests['stock'].cfg.test_dataloader.dataset.pipeline]
    assert 'ResizeToMultiple' not in stock_types
    assert task_settings(tests['stock'])['pipeline'] == 'mmseg-stock'
    (tdir / 'bad.toml').write_text((tdir / 't.toml').read_text().replace('name = "t"', 'name = "b"')
                                   .replace('mmseg-stock', 'stock'))
    from experiments.registry.schema import RegistryError
    with pytest.raises(RegistryError, match=r"row 2 \(stock\): field 'pipeline': unknown pipeline 'stock'"):
        load_table(str(tdir / 'bad.toml'))


def test_cityscapes_c_protocols(tmp_path):
    """official-bgr writes exactly corrupt(BGR array); segformer corrupts RGB; a root keeps one protocol."""
    import cv2
    from experiments.data.cityscapes_c import generate, image_seed, root_for
    from experiments.data.corruptions import corrupt
    from experiments.data.check import prepare_root
    src = str(tmp_path / 'city')
    prepare_root('cityscapes', src, builtin=True)
    out = {}
    for protocol in ('segformer', 'official-bgr'):
        dst = str(tmp_path / protocol)
        generate(src, dst, ['saturate'], severities=[3], max_images=1, protocol=protocol)
        img_dir = os.path.join(root_for(dst, 'saturate', 3), 'leftImg8bit', 'val')
        rel = next(os.path.relpath(os.path.join(d, f), img_dir) for d, _, fs in os.walk(img_dir) for f in fs)
        out[protocol] = cv2.imread(os.path.join(img_dir, rel))
        with pytest.raises(ValueError, match='holds Cityscapes-C of protocol'):
            generate(src, dst, ['saturate'], severities=[3], max_images=1,
                     protocol='segformer' if protocol != 'segformer' else 'official-bgr')
    bgr = cv2.imread(os.path.join(src, 'leftImg8bit', 'val', rel))
    seed = image_seed(0, 'saturate', 3, rel)
    assert np.array_equal(out['official-bgr'], corrupt(bgr, 'saturate', 3, seed))
    assert np.array_equal(out['segformer'], corrupt(bgr[..., ::-1], 'saturate', 3, seed)[..., ::-1])
    assert not np.array_equal(out['segformer'], out['official-bgr'])
