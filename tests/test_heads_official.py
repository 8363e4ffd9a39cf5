"""The official heads (Table 1/2 and ablations) and the original FeedFormer, each as a
configuration of the one head: converted official checkpoints give the logits of an
independent functional reading of the spec; unknown layouts are refused."""
import os

import pytest
import torch

from conftest import DATA_DIR
from spec_reference import feedformer_logits, official_ablation_logits, read_official_layout
from umixformer.converters import convert_official_state_dict
from umixformer.converters.layouts import OFFICIAL_HEADS, match_head
from umixformer.converters.official import ConversionError, official_unused_params
from umixformer.models.decode_heads import FeedFormerHead, UMixFormerHead

B0 = (32, 64, 160, 256)


def _block(sd, p, dim1, dim2):
    shapes = {'norm1': (dim1, ), 'norm2': (dim2, ), 'norm3': (dim1, )}
    for n, s in shapes.items():
        sd[f'{p}.{n}.weight'], sd[f'{p}.{n}.bias'] = s, s
    sd[f'{p}.attn.q.weight'] = (dim1, dim1)
    sd[f'{p}.attn.kv.weight'] = (2 * dim1, dim2)
    sd[f'{p}.attn.proj.weight'], sd[f'{p}.attn.proj.bias'] = (dim1, dim1), (dim1, )
    sd[f'{p}.attn.sr.weight'], sd[f'{p}.attn.sr.bias'] = (dim2, dim2, 1, 1), (dim2, )
    sd[f'{p}.attn.norm.weight'], sd[f'{p}.attn.norm.bias'] = (dim2, ), (dim2, )
    sd[f'{p}.mlp.fc1.weight'], sd[f'{p}.mlp.fc1.bias'] = (4 * dim1, dim1), (4 * dim1, )
    sd[f'{p}.mlp.dwconv.dwconv.weight'], sd[f'{p}.mlp.dwconv.dwconv.bias'] = (4 * dim1, 1, 3, 3), (4 * dim1, )
    sd[f'{p}.mlp.fc2.weight'], sd[f'{p}.mlp.fc2.bias'] = (dim1, 4 * dim1), (dim1, )


def official_layout(kind, widths=B0, classes=150, embed=128, taps=0):
    """Key -> shape of an official ADE-attention head, written from official-runs.md 3."""
    c1, c2, c3, c4 = widths
    t = sum(widths)
    c = {1: c1, 2: c2, 3: c3, 4: c4}
    dim2 = {
        'APFormerHead2': {s: t for s in c}, 'APFormerHead': {s: t for s in c},
        'APFormerHeadMulti': {s: t + taps * c3 for s in c},
        'APFormerHeadSingle': {4: c4, 3: c4, 2: c3, 1: c2},
        'APFormerHead2_rebuttal': {4: c4 + c3, 3: c4 + c3 + c2, 2: c3 + c2 + c1, 1: c2 + c1},
        'APFormerHeadMulti@fedaa81': {s: t - c[s] for s in c},
    }[kind]
    convs = {  # cat_key name -> widths of its sr_list convs, in order
        'APFormerHead': {'cat_key': [c3, c2, c1]},
        'APFormerHeadSingle': {f'cat_key{k}': [w] for k, w in zip((1, 2, 3, 4), (c4, c4, c3, c2))},
        'APFormerHead2_rebuttal': {'cat_key1': [c3], 'cat_key2': [c3, c2], 'cat_key3': [c3, c2, c1],
                                   'cat_key4': [c2, c1]},
        'APFormerHeadMulti@fedaa81': {'cat_key1': [c3, c2, c1], 'cat_key2': [c2, c1], 'cat_key3': [c3, c1],
                                      'cat_key4': [c3, c2]},
    }.get(kind, {f'cat_key{k}': [c3, c2, c1] + [c3] * taps for k in (1, 2, 3, 4)})
    sd = {}
    for s in (4, 3, 2, 1):
        _block(sd, f'decode_head.attn_c{s}', c[s], dim2[s])
    for name, ws in convs.items():
        for i, w in enumerate(ws):
            idx = '' if kind == 'APFormerHeadSingle' else f'.{i}'
            sd[f'decode_head.{name}.sr_list{idx}.weight'] = (w, w, 1, 1)
            sd[f'decode_head.{name}.sr_list{idx}.bias'] = (w, )
    sd['decode_head.linear_fuse.conv.weight'] = (embed, t, 1, 1)
    for n in ('weight', 'bias', 'running_mean', 'running_var'):
        sd[f'decode_head.linear_fuse.bn.{n}'] = (embed, )
    sd['decode_head.linear_fuse.bn.num_batches_tracked'] = ()
    sd['decode_head.linear_pred.weight'], sd['decode_head.linear_pred.bias'] = (classes, embed, 1, 1), (classes, )
    sd['decode_head.conv_seg.weight'], sd['decode_head.conv_seg.bias'] = (classes, 256, 1, 1), (classes, )
    return sd


def random_state(layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in layout.items():
        if key.endswith('running_var'):
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith('num_batches_tracked'):
            out[key] = torch.tensor(100)
        else:
            out[key] = torch.randn(shape, generator=g) * 0.2
    return out


def feats(hw=(32, 48), widths=B0, seed=1, n=2):
    g = torch.Generator().manual_seed(seed)
    H, W = hw
    return [torch.randn(n, c, -(-H // s), -(-W // s), generator=g) for c, s in zip(widths, (1, 2, 4, 8))]


def build_head(kind, in_channels=B0, channels=128, num_classes=150):
    kw = dict(OFFICIAL_HEADS[kind].head_kwargs)
    return UMixFormerHead(in_channels=list(in_channels), in_index=list(range(len(in_channels))),
                          channels=channels, num_classes=num_classes, dropout_ratio=0.1,
                          norm_cfg=dict(type='BN', requires_grad=True), align_corners=False, **kw).eval()


def test_layout_generator_matches_official_key_list():
    """The generator above reproduces the official APFormerHead2 key list exactly."""
    real = read_official_layout(os.path.join(DATA_DIR, 'official-checkpoint-keys.txt'))['APFormerHead2']
    assert official_layout('APFormerHead2') == real


ABLATIONS = ['APFormerHead', 'APFormerHeadSingle', 'APFormerHead2_rebuttal', 'APFormerHeadMulti@fedaa81']


@pytest.mark.parametrize('kind', ABLATIONS)
def test_ablation_head_equals_spec_reading(kind):
    official = random_state(official_layout(kind))
    converted = convert_official_state_dict(official)
    head = build_head(kind)
    head.load_state_dict({k[len('decode_head.'):]: v for k, v in converted.items()}, strict=True)
    assert match_head(head).name == kind
    x = feats()
    ref_sd = {k[len('decode_head.'):]: v for k, v in official.items()}
    with torch.no_grad():
        ours = head(x)
        ref = official_ablation_logits(kind, ref_sd, x)
    assert ours.shape == ref.shape == (2, 150, 32, 48)
    assert (ours - ref).abs().max() < 1e-5, (ours - ref).abs().max()
    # params "as published" = this head + the dead modules of the official layout
    official_head = sum(v.numel() for k, v in official.items() if 'running_' not in k and 'num_batches' not in k)
    assert sum(p.numel() for p in head.parameters()) + official_unused_params(head) == official_head


def test_dagger_layout_converts_and_loads():
    official = random_state(official_layout('APFormerHeadMulti', taps=2))
    converted = convert_official_state_dict(official)
    head = build_head('APFormerHeadMulti', in_channels=B0 + (160, 160))
    head.load_state_dict({k[len('decode_head.'):]: v for k, v in converted.items()}, strict=True)
    assert match_head(head).name == 'APFormerHeadMulti'


def test_unknown_layout_is_refused():
    layout = official_layout('APFormerHead2')
    layout['decode_head.attn_c4.norm2.weight'] = layout['decode_head.attn_c4.norm2.bias'] = (300, )
    with pytest.raises(ConversionError, match='layout not known.*key/value width 300'):
        convert_official_state_dict(random_state(layout))
    # a rebuttal checkpoint is recognised (it used to be placed by the main head's rule)
    reb = random_state(official_layout('APFormerHead2_rebuttal'))
    conv = convert_official_state_dict(reb)
    assert 'decode_head.kv_pools.2.convs.0.weight' in conv  # stage 2: all three sources pooled


# --- FeedFormer: the original block and pooling ---------------------------------------

def _feedformer_official_names(head: FeedFormerHead, city: bool):
    """Our FeedFormer state dict under the original FeedFormer key names."""
    ren = {}
    for i, s in enumerate((4, 3, 2)):
        p = f'attn_c{s}_c1'
        m = {f'blocks.{i}.norm1': f'{p}.norm1', f'blocks.{i}.norm3': f'{p}.norm3',
             f'kv_pre_norms.{i}.0': f'{p}.norm2',
             f'kv_pools.{i}.convs.0': f'{p}.attn.{"sr2" if city else "sr"}',
             f'blocks.{i}.norm2': f'{p}.attn.{"norm2" if city else "norm"}',
             f'blocks.{i}.attn.q': f'{p}.attn.q', f'blocks.{i}.attn.kv': f'{p}.attn.kv',
             f'blocks.{i}.attn.proj': f'{p}.attn.proj', f'blocks.{i}.ffn.fc1': f'{p}.mlp.fc1',
             f'blocks.{i}.ffn.fc2': f'{p}.mlp.fc2', f'blocks.{i}.ffn.dwconv': f'{p}.mlp.dwconv.dwconv'}
        if city:
            m.update({f'blocks.{i}.attn.q_sr': f'{p}.attn.sr1', f'blocks.{i}.attn.q_norm': f'{p}.attn.norm1'})
        ren.update(m)
    ren.update({'fuse.conv': 'linear_fuse.conv', 'fuse.bn': 'linear_fuse.bn', 'conv_seg': 'linear_pred'})
    out = {}
    for k, v in head.state_dict().items():
        mod, _, leaf = k.rpartition('.')
        out[f'{ren[mod]}.{leaf}'] = v
    return out


@pytest.mark.parametrize('city', [False, True], ids=['ade20k', 'cityscapes'])
def test_feedformer_is_the_original_block(city):
    torch.manual_seed(0)
    kw = dict(kv_stride=(64, 32, 16), query_pool=2) if city else {}
    head = FeedFormerHead(in_channels=list(B0), in_index=[0, 1, 2, 3], channels=128, num_classes=19,
                          dropout_ratio=0.1, norm_cfg=dict(type='BN', requires_grad=True),
                          align_corners=False, **kw).eval().double()
    for p in head.parameters():  # LayerNorms away from 1/0 so that their placement matters
        p.data.add_(torch.randn_like(p) * 0.1)
    head.fuse.bn.running_var.add_(0.5)
    # grids that floor and ceil pooling treat differently (E1 36x52 -> E4 5x7)
    x = [f.double() for f in feats(hw=(36, 52))]  # float64: logits reach ~36
    with torch.no_grad():
        ours = head(x)
        ref = feedformer_logits(_feedformer_official_names(head, city), x, city)
        head_ceil = FeedFormerHead(in_channels=list(B0), in_index=[0, 1, 2, 3], channels=128, num_classes=19,
                                   dropout_ratio=0.1, norm_cfg=dict(type='BN'), ceil_mode=True,
                                   pre_norm=False, **kw).eval().double()
        head_ceil.load_state_dict(head.state_dict())
        other = head_ceil(x)
    assert (ours - ref).abs().max() < 1e-9, (ours - ref).abs().max()
    assert (other - ref).abs().max() > 1e-3  # the U-MixFormer block order is another model
